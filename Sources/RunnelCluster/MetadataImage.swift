import RunnelProtocol

/// Everything the cluster metadata says at one store revision: an immutable value, so a
/// handler reads one consistent picture without locks or awaits.
public struct MetadataImage: Sendable, Equatable {
    public var clusterId: String
    /// The store revision this image reflects; a write is visible once an image reaches its revision.
    public var revision: Int64
    public var topicsByName: [String: TopicMetadata]
    public var partitions: [TopicPartition: VersionedPartitionState]
    /// Live brokers (registered, lease alive).
    public var brokers: [Int32: BrokerRegistration]
    /// The elected controller, nil while there is none.
    public var controllerId: Int32?
    /// Consumer groups' config overrides (KIP-848 group configs) by group id; a group without
    /// overrides is absent.
    public var groupConfigs: [String: [String: String]]

    public init(
        clusterId: String, revision: Int64, topicsByName: [String: TopicMetadata] = [:],
        partitions: [TopicPartition: VersionedPartitionState] = [:], brokers: [Int32: BrokerRegistration] = [:],
        controllerId: Int32? = nil, groupConfigs: [String: [String: String]] = [:]
    ) {
        self.clusterId = clusterId
        self.revision = revision
        self.topicsByName = topicsByName
        self.partitions = partitions
        self.brokers = brokers
        self.controllerId = controllerId
        self.groupConfigs = groupConfigs
    }

    /// Topics sorted by name.
    public var topics: [TopicMetadata] { topicsByName.values.sorted { $0.name < $1.name } }

    public func topic(named name: String) -> TopicMetadata? { topicsByName[name] }

    public func topic(id: KafkaUUID) -> TopicMetadata? { topicsByName.values.first { $0.id == id } }

    public func partition(_ topicPartition: TopicPartition) -> PartitionState? { partitions[topicPartition]?.state }

    /// The partitions of `topic` in index order (missing ones skipped).
    public func partitions(of topic: TopicMetadata) -> [(index: Int32, state: PartitionState)] {
        (0..<topic.partitionCount).compactMap { index in
            partitions[TopicPartition(topic: topic.name, partition: index)].map { (index, $0.state) }
        }
    }

    public var liveBrokerIds: Set<Int32> { Set(brokers.keys) }

    /// Whether `broker` holds a replica of the partition of topic `topicId`: false when the
    /// topic is gone (or is another topic now), the partition is beyond its count, or its
    /// replicas exclude the broker; nil when the topic is there but the partition's state is
    /// not (unreadable in the store) — a caller must then leave what it has alone.
    public func holds(_ partition: TopicPartition, topicId: KafkaUUID?, broker: Int32) -> Bool? {
        guard let topic = topicsByName[partition.topic], topicId == nil || topic.id == topicId,
              partition.partition < topic.partitionCount
        else { return false }
        return partitions[partition].map { $0.state.replicas.contains(broker) }
    }

    /// How many partitions all topics hold together.
    public var partitionCount: Int { topicsByName.values.reduce(0) { $0 + Int($1.partitionCount) } }
}
