import RunnelProtocol

/// Moving partitions' replicas to other brokers (Kafka's `alterPartitionReassignments` and
/// `listPartitionReassignments`, KIP-455).
extension Admin {
    /// A partition whose replicas are moving: `replicas` is target ∪ current while it runs.
    public struct PartitionReassignment: Sendable, Equatable {
        public var partition: TopicPartition
        public var replicas: [Int32]
        public var addingReplicas: [Int32]
        public var removingReplicas: [Int32]
    }

    /// Starts moving each partition to its target replicas (the first is the preferred leader),
    /// or cancels its move when the target is nil. Returns once the moves have started; the
    /// brokers finish each when its new replicas have caught up. Throws the first partition's
    /// error (all partitions are still tried).
    public func alterPartitionReassignments(_ targets: [TopicPartition: [Int32]?], allowReplicationFactorChange: Bool = true) async throws {
        var request = AlterPartitionReassignmentsRequest()
        request.timeoutMs = requestTimeoutMs
        request.allowReplicationFactorChange = allowReplicationFactorChange
        let byTopic = Dictionary(grouping: targets.keys, by: \.topic)
        request.topics = byTopic.keys.sorted().map { topic in
            .init(name: topic, partitions: byTopic[topic]!.sorted { $0.partition < $1.partition }.map { partition in
                .init(partitionIndex: partition.partition, replicas: targets[partition] ?? nil)
            })
        }
        let response = try await withController { try await $0.send(request) }
        try KafkaClientError.check(response.errorCode, "AlterPartitionReassignments\(response.errorMessage.map { ": \($0)" } ?? "")")
        for topic in response.responses {
            for partition in topic.partitions {
                try KafkaClientError.check(
                    partition.errorCode,
                    "AlterPartitionReassignments \(topic.name)-\(partition.partitionIndex)\(partition.errorMessage.map { ": \($0)" } ?? "")")
            }
        }
    }

    /// Runs `body` on the controller's connection, where Kafka's admin client sends both
    /// reassignment APIs: every client then reads the broker that applied the change before
    /// answering it, so a move or cancel shows in the next list at once. Any broker when the
    /// metadata names no controller.
    private func withController<T: Sendable>(_ body: (BrokerConnection) async throws -> T) async throws -> T {
        let metadata = try await cluster.refreshMetadata(topics: [])
        guard metadata.controllerId >= 0 else { return try await cluster.withAnyBroker(body) }
        return try await body(cluster.connection(toNode: metadata.controllerId))
    }

    /// The partitions that are moving: all of them, or among `partitions`.
    public func listPartitionReassignments(_ partitions: [TopicPartition]? = nil) async throws -> [PartitionReassignment] {
        var request = ListPartitionReassignmentsRequest()
        request.timeoutMs = requestTimeoutMs
        request.topics = partitions.map { partitions in
            let byTopic = Dictionary(grouping: partitions, by: \.topic)
            return byTopic.keys.sorted().map { .init(name: $0, partitionIndexes: byTopic[$0]!.map(\.partition).sorted()) }
        }
        let response = try await withController { try await $0.send(request) }
        try KafkaClientError.check(response.errorCode, "ListPartitionReassignments\(response.errorMessage.map { ": \($0)" } ?? "")")
        return response.topics.flatMap { topic in
            topic.partitions.map {
                PartitionReassignment(
                    partition: TopicPartition(topic: topic.name, partition: $0.partitionIndex), replicas: $0.replicas,
                    addingReplicas: $0.addingReplicas, removingReplicas: $0.removingReplicas)
            }
        }.sorted { ($0.partition.topic, $0.partition.partition) < ($1.partition.topic, $1.partition.partition) }
    }
}
