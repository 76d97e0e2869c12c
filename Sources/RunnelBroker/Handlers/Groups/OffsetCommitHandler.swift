import RunnelCoordinator
import RunnelProtocol

/// OffsetCommit (8), versions 2-9: validated against the member's generation, written to
/// `__consumer_offsets`, answered once the records are in the log. As in Kafka, a partition
/// the cluster does not have is refused with UNKNOWN_TOPIC_OR_PARTITION (nothing is stored
/// for it) while the rest of the request is committed.
struct OffsetCommitHandler: APIHandler {
    let versions: ClosedRange<Int16> = 2...9
    let context: HandlerContext

    /// Kafka's `offset.metadata.max.bytes` default: longer commit metadata is refused per
    /// partition with OFFSET_METADATA_TOO_LARGE (and `__consumer_offsets` strings hold 32767 bytes).
    static let maxMetadataBytes = 4096
    /// The longest group id a `__consumer_offsets` key can hold (an int16-length string).
    static let maxGroupIdBytes = Int(Int16.max)

    func handle(_ request: OffsetCommitRequest, context requestContext: RequestContext) async -> HandlerReply<OffsetCommitResponse> {
        let now = Int64(PartitionClock.now())
        var offsets: [GroupTopicPartition: OffsetAndMetadata] = [:]
        var refusedPartitions: [GroupTopicPartition: KafkaErrorCode] = [:]
        for topic in request.topics {
            let partitionCount = context.metadata.topic(named: topic.name)?.partitionCount ?? 0
            for partition in topic.partitions {
                let key = GroupTopicPartition(topic: topic.name, partition: partition.partitionIndex)
                guard partition.partitionIndex >= 0, partition.partitionIndex < partitionCount else {
                    refusedPartitions[key] = .unknownTopicOrPartition
                    continue
                }
                guard (partition.committedMetadata?.utf8.count ?? 0) <= Self.maxMetadataBytes else {
                    refusedPartitions[key] = .offsetMetadataTooLarge
                    continue
                }
                offsets[key] = OffsetAndMetadata(
                    offset: partition.committedOffset, leaderEpoch: partition.committedLeaderEpoch, metadata: partition.committedMetadata,
                    commitTimestamp: now)
            }
        }
        let code = if request.groupId.utf8.count > Self.maxGroupIdBytes {
            KafkaErrorCode.invalidGroupId.rawValue
        } else if let refused = await context.coordinatorError(for: request.groupId) {
            refused.rawValue
        } else if offsets.isEmpty {
            KafkaErrorCode.none.rawValue
        } else {
            await context.groups.commit(
                groupId: request.groupId, memberId: request.memberId, generationId: request.generationIdOrMemberEpoch, offsets: offsets)
        }
        // A commit from outside the group (no member, generation -1) is an admin's offset
        // reset (AlterConsumerGroupOffsets, `runnel group reset-offsets`).
        if code == 0, !offsets.isEmpty, request.memberId.isEmpty, request.generationIdOrMemberEpoch < 0,
           let heldBack = context.outsideCommitLog.admit(request.groupId) {
            let listed = offsets.sorted { $0.key < $1.key }.map { "\($0.key.topic)-\($0.key.partition)@\($0.value.offset)" }
            let shown = listed.prefix(20).joined(separator: ",") + (listed.count > 20 ? " and \(listed.count - 20) more" : "")
            let more = heldBack > 0 ? " (\(heldBack) such commits not logged since the last)" : ""
            context.logAdminChange("set the committed offsets of group \(request.groupId): \(shown)\(more)", by: requestContext)
        }
        return .response(OffsetCommitResponse(topics: request.topics.map { topic in
            .init(name: topic.name, topicId: topic.topicId, partitions: topic.partitions.map { partition in
                let refused = refusedPartitions[GroupTopicPartition(topic: topic.name, partition: partition.partitionIndex)]
                return .init(partitionIndex: partition.partitionIndex, errorCode: refused?.rawValue ?? code)
            })
        }))
    }
}

import RunnelStorage

enum PartitionClock {
    static func now() -> Int64 { PartitionLog.wallClockMilliseconds() }
}
