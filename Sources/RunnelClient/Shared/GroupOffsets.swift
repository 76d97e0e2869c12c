import RunnelProtocol

/// A consumer group's committed offsets, read (OffsetFetch) and written (OffsetCommit): shared
/// by group members and the admin client.
enum GroupOffsets {
    static func fetch(group: String, partitions: [TopicPartition]?, cluster: KafkaCluster) async throws -> [TopicPartition: Int64] {
        var request = OffsetFetchRequest()
        request.groupId = group
        request.topics = partitions.map { partitions in
            Dictionary(grouping: partitions, by: \.topic).map { .init(name: $0.key, partitionIndexes: $0.value.map(\.partition)) }
        }
        let response = try await cluster.coordinatorConnection(group: group).send(request)
        let code = KafkaErrorCode(rawValue: response.errorCode)
        if code == .notCoordinator || code == .coordinatorNotAvailable { cluster.forgetCoordinator(group: group) }
        try KafkaClientError.check(response.errorCode, "OffsetFetch \(group)")
        var offsets: [TopicPartition: Int64] = [:]
        for topic in response.topics {
            for partition in topic.partitions where partition.committedOffset >= 0 {
                try KafkaClientError.check(partition.errorCode, "OffsetFetch \(topic.name)-\(partition.partitionIndex)")
                offsets[TopicPartition(topic: topic.name, partition: partition.partitionIndex)] = partition.committedOffset
            }
        }
        return offsets
    }

    /// OffsetCommit of `offsets` (per partition, the next offset to read). A member commits
    /// for its generation; the admin client outside any (generation -1, no member id), which
    /// the coordinator accepts only for a group without active members.
    static func commit(_ offsets: [TopicPartition: Int64], group: String, generation: Int32, memberId: String,
                       instanceId: String?, cluster: KafkaCluster) async throws {
        var request = OffsetCommitRequest()
        request.groupId = group
        request.generationIdOrMemberEpoch = generation
        request.memberId = memberId
        request.groupInstanceId = instanceId
        request.retentionTimeMs = -1
        request.topics = Dictionary(grouping: offsets, by: \.key.topic).map { topic, entries in
            .init(name: topic, partitions: entries.map { .init(partitionIndex: $0.key.partition, committedOffset: $0.value, committedLeaderEpoch: -1) })
        }
        let response = try await cluster.coordinatorConnection(group: group).send(request)
        for topic in response.topics {
            for partition in topic.partitions {
                let code = KafkaErrorCode(rawValue: partition.errorCode)
                if code == .notCoordinator || code == .coordinatorNotAvailable { cluster.forgetCoordinator(group: group) }
                try KafkaClientError.check(partition.errorCode, "OffsetCommit \(group) \(topic.name)-\(partition.partitionIndex)")
            }
        }
    }
}
