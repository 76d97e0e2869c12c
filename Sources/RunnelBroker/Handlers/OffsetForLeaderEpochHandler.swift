import RunnelProtocol

/// OffsetForLeaderEpoch (23), versions 2-4: where a leader epoch ended in this leader's log —
/// what a follower truncates to (KIP-101, KIP-279) and what a consumer checks its position
/// against after a leader change (KIP-320). Served by the leader only; a request that names
/// an older current leader epoch is fenced, a newer one is unknown here yet.
struct OffsetForLeaderEpochHandler: APIHandler {
    let versions: ClosedRange<Int16> = 2...4
    let context: HandlerContext

    func handle(_ request: OffsetForLeaderEpochRequest, context requestContext: RequestContext)
        async -> HandlerReply<OffsetForLeaderEpochResponse>
    {
        .response(OffsetForLeaderEpochResponse(topics: request.topics.map { topic in
            .init(topic: topic.topic, partitions: topic.partitions.map { lookUp($0, topic: topic.topic) })
        }))
    }

    private func lookUp(_ wanted: OffsetForLeaderEpochRequest.OffsetForLeaderPartition, topic: String)
        -> OffsetForLeaderEpochResponse.EpochEndOffset
    {
        var answer = OffsetForLeaderEpochResponse.EpochEndOffset(partition: wanted.partition, leaderEpoch: -1, endOffset: -1)
        let topicPartition = TopicPartition(topic: topic, partition: wanted.partition)
        guard let partition = context.replicas.partition(topicPartition) else {
            answer.errorCode = context.replicas.notHostedError(topicPartition).rawValue
            return answer
        }
        guard partition.isLeader else {
            answer.errorCode = KafkaErrorCode.notLeaderOrFollower.rawValue
            return answer
        }
        // Partition.checkCurrentLeaderEpoch: -1 skips the check.
        let local = partition.leaderEpoch
        if wanted.currentLeaderEpoch >= 0, wanted.currentLeaderEpoch != local {
            answer.errorCode = (wanted.currentLeaderEpoch < local ? KafkaErrorCode.fencedLeaderEpoch : .unknownLeaderEpoch).rawValue
            return answer
        }
        if let (epoch, endOffset) = partition.log.endOffset(forLeaderEpoch: wanted.leaderEpoch) {
            answer.leaderEpoch = epoch
            answer.endOffset = endOffset
        }
        return answer
    }
}
