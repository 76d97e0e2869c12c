import RunnelCoordinator
import RunnelProtocol

/// OffsetCommit (8), versions 2-9: validated against the member's generation, written to
/// `__consumer_offsets`, answered once the records are in the log.
struct OffsetCommitHandler: APIHandler {
    let versions: ClosedRange<Int16> = 2...9
    let context: HandlerContext

    func handle(_ request: OffsetCommitRequest, context requestContext: RequestContext) async -> HandlerReply<OffsetCommitResponse> {
        let now = Int64(PartitionClock.now())
        var offsets: [GroupTopicPartition: OffsetAndMetadata] = [:]
        for topic in request.topics {
            for partition in topic.partitions {
                offsets[GroupTopicPartition(topic: topic.name, partition: partition.partitionIndex)] = OffsetAndMetadata(
                    offset: partition.committedOffset, leaderEpoch: partition.committedLeaderEpoch, metadata: partition.committedMetadata,
                    commitTimestamp: now)
            }
        }
        let code = if let refused = context.coordinatorError(for: request.groupId) {
            refused.rawValue
        } else {
            await context.groups.commit(
                groupId: request.groupId, memberId: request.memberId, generationId: request.generationIdOrMemberEpoch, offsets: offsets)
        }
        return .response(OffsetCommitResponse(topics: request.topics.map { topic in
            .init(name: topic.name, topicId: topic.topicId, partitions: topic.partitions.map { .init(partitionIndex: $0.partitionIndex, errorCode: code) })
        }))
    }
}

import RunnelStorage

enum PartitionClock {
    static func now() -> Int64 { PartitionLog.wallClockMilliseconds() }
}
