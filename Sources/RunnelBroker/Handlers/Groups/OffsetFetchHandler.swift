import RunnelCoordinator
import RunnelProtocol

/// OffsetFetch (9), versions 1-9: a group's committed offsets (all of them for a null topic
/// list); v8+ asks for several groups at once. Partitions without a commit answer -1.
struct OffsetFetchHandler: APIHandler {
    let versions: ClosedRange<Int16> = 1...9
    let context: HandlerContext

    func handle(_ request: OffsetFetchRequest, context requestContext: RequestContext) async -> HandlerReply<OffsetFetchResponse> {
        if requestContext.apiVersion >= 8 {
            var groups: [OffsetFetchResponse.OffsetFetchResponseGroup] = []
            for group in request.groups {
                if let code = await context.coordinatorError(for: group.groupId) {
                    groups.append(.init(groupId: group.groupId, topics: [], errorCode: code.rawValue))
                    continue
                }
                let wanted = group.topics.map { $0.map { ($0.name, $0.partitionIndexes) } }
                let found = fetch(group.groupId, wanted)
                groups.append(.init(groupId: group.groupId, topics: found.map { topic in
                    .init(name: topic.name, partitions: topic.partitions.map {
                        .init(partitionIndex: $0.index, committedOffset: $0.offset, committedLeaderEpoch: $0.epoch, metadata: $0.metadata, errorCode: 0)
                    })
                }))
            }
            return .response(OffsetFetchResponse(groups: groups))
        }
        // v2+ carry a top-level error (v1 only per partition: it asks the right broker anyway).
        if requestContext.apiVersion >= 2, let code = await context.coordinatorError(for: request.groupId) {
            return .response(OffsetFetchResponse(errorCode: code.rawValue))
        }
        let found = fetch(request.groupId, request.topics.map { $0.map { ($0.name, $0.partitionIndexes) } })
        return .response(OffsetFetchResponse(topics: found.map { topic in
            .init(name: topic.name, partitions: topic.partitions.map {
                .init(partitionIndex: $0.index, committedOffset: $0.offset, committedLeaderEpoch: $0.epoch, metadata: $0.metadata, errorCode: 0)
            })
        }))
    }

    private struct Found {
        var name: String
        var partitions: [(index: Int32, offset: Int64, epoch: Int32, metadata: String?)]
    }

    private func fetch(_ groupId: String, _ wanted: [(String, [Int32])]?) -> [Found] {
        let committed = context.groups.committedOffsets(
            groupId: groupId, partitions: wanted?.flatMap { name, indexes in indexes.map { GroupTopicPartition(topic: name, partition: $0) } })
        let requested = wanted ?? Dictionary(grouping: committed.keys, by: \.topic).map { ($0.key, $0.value.map(\.partition).sorted()) }
            .sorted { $0.0 < $1.0 }
        return requested.map { name, indexes in
            Found(name: name, partitions: indexes.map { index in
                let value = committed[GroupTopicPartition(topic: name, partition: index)]
                return (index, value?.offset ?? -1, value?.leaderEpoch ?? -1, value?.metadata ?? "")
            })
        }
    }
}
