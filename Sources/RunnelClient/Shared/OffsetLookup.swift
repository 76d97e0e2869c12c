import RunnelProtocol

/// ListOffsets against each partition's leader: the offset for a timestamp, or the earliest
/// (`earliest`, -2) or latest (`latest`, -1) offset. Shared by the consumer and the admin client.
public enum OffsetLookup {
    public static let earliest: Int64 = -2
    public static let latest: Int64 = -1

    public struct Found: Sendable, Equatable {
        /// -1 when no record has a timestamp at or after the one asked for.
        public var offset: Int64
        public var timestamp: Int64
    }

    public static func offsets(_ query: [TopicPartition: Int64], cluster: KafkaCluster) async throws -> [TopicPartition: Found] {
        // A leader that has not applied a new topic or leadership yet, or a new leader whose high
        // watermark has not reached its epoch's start (OFFSET_NOT_AVAILABLE), answers with a
        // retriable error for a moment: ask again, with fresh metadata, before giving up.
        let deadline = ContinuousClock.now + KafkaCluster.topicPropagationWindow
        while true {
            do {
                return try await attempt(query, cluster: cluster)
            } catch KafkaClientError.broker(let code, let message) where [.unknownTopicOrPartition, .notLeaderOrFollower, .leaderNotAvailable, .offsetNotAvailable].contains(code) {
                if ContinuousClock.now >= deadline { throw KafkaClientError.broker(code, message) }
                try await Task.sleep(for: .milliseconds(100))
                _ = try await cluster.refreshMetadata(topics: Array(Set(query.keys.map(\.topic))))
            }
        }
    }

    private static func attempt(_ query: [TopicPartition: Int64], cluster: KafkaCluster) async throws -> [TopicPartition: Found] {
        let metadata = try await cluster.metadata(covering: Array(Set(query.keys.map(\.topic))))
        var byLeader: [Int32: [TopicPartition]] = [:]
        for topicPartition in query.keys {
            guard let leader = metadata.leader(of: topicPartition.topic, partition: topicPartition.partition) else {
                if (metadata.partitionCount(of: topicPartition.topic) ?? 0) <= topicPartition.partition {
                    throw KafkaClientError.unknownPartition(topicPartition.topic, topicPartition.partition)
                }
                throw KafkaClientError.broker(.leaderNotAvailable, "ListOffsets \(topicPartition)")
            }
            byLeader[leader, default: []].append(topicPartition)
        }
        var found: [TopicPartition: Found] = [:]
        for (leader, partitions) in byLeader {
            var request = ListOffsetsRequest()
            request.replicaId = -1
            request.isolationLevel = 0
            request.topics = Dictionary(grouping: partitions, by: \.topic).map { topic, partitions in
                .init(name: topic, partitions: partitions.map { .init(partitionIndex: $0.partition, currentLeaderEpoch: -1, timestamp: query[$0]!) })
            }
            let response = try await cluster.connection(toNode: leader).send(request)
            for topic in response.topics {
                for partition in topic.partitions {
                    try KafkaClientError.check(partition.errorCode, "ListOffsets \(topic.name)-\(partition.partitionIndex)")
                    found[TopicPartition(topic: topic.name, partition: partition.partitionIndex)] =
                        Found(offset: partition.offset, timestamp: partition.timestamp)
                }
            }
        }
        return found
    }
}
