import RunnelCluster
import RunnelProtocol

/// Creating, growing, reconfiguring and deleting topics: the metadata change first (durable),
/// then the partitions on this broker. CreateTopics, Metadata's auto-creation, CreatePartitions,
/// the config APIs and DeleteTopics all go through here.
struct TopicLifecycle: Sendable {
    let metadata: EmbeddedMetadataStore
    let schema: TopicConfigSchema
    let replicas: ReplicaManager
    let config: BrokerConfig

    /// Creates a topic; -1 partitions or replication factor take the broker defaults.
    func create(
        name: String, partitions: Int32, replicationFactor: Int16, configs: [String: String], validateOnly: Bool = false,
        isInternal: Bool = false
    ) throws -> TopicMetadata {
        let count = partitions == -1 ? config.numPartitions : partitions
        let factor = replicationFactor == -1 ? config.defaultReplicationFactor : replicationFactor
        if let problem = schema.validate(configs) { throw ClusterMetadataError(.invalidConfig, problem) }
        if validateOnly {
            if let reason = TopicMetadata.validate(name: name) { throw ClusterMetadataError(.invalidTopicException, reason) }
            guard metadata.topic(named: name) == nil else { throw ClusterMetadataError(.topicAlreadyExists, "topic '\(name)' already exists") }
            guard count > 0 else { throw ClusterMetadataError(.invalidPartitions, "number of partitions must be larger than 0") }
            guard factor == 1 else { throw ClusterMetadataError(.invalidReplicationFactor, "replication factor must be 1 on a single broker") }
            return TopicMetadata(name: name, id: .zero, partitionCount: count, replicationFactor: factor, configs: configs)
        }
        let topic = try metadata.createTopic(
            name: name, partitions: count, replicationFactor: factor, configs: configs, isInternal: isInternal)
        try replicas.becomeLeader(of: topic, config: schema.logConfig(topic.configs))
        return topic
    }

    func delete(name: String) throws -> TopicMetadata {
        guard config.deleteTopicEnable else { throw ClusterMetadataError(.invalidRequest, "topic deletion is disabled (delete.topic.enable=false)") }
        if metadata.topic(named: name)?.isInternal == true {
            throw ClusterMetadataError(.invalidRequest, "internal topic '\(name)' cannot be deleted")
        }
        let topic = try metadata.deleteTopic(named: name)
        try replicas.removePartitions(of: topic)
        return topic
    }

    func addPartitions(topic name: String, totalCount: Int32, validateOnly: Bool) throws -> TopicMetadata {
        if validateOnly {
            guard let topic = metadata.topic(named: name) else {
                throw ClusterMetadataError(.unknownTopicOrPartition, "topic '\(name)' does not exist")
            }
            guard totalCount > topic.partitionCount else {
                throw ClusterMetadataError(.invalidPartitions, "topic currently has \(topic.partitionCount) partitions, \(totalCount) would not be an increase")
            }
            return topic
        }
        let topic = try metadata.setPartitionCount(topic: name, to: totalCount)
        try replicas.becomeLeader(of: topic, config: schema.logConfig(topic.configs))
        return topic
    }

    /// Replaces a topic's overrides (after validation) and applies them to its logs.
    func setConfigs(topic name: String, to configs: [String: String], validateOnly: Bool) throws {
        guard metadata.topic(named: name) != nil else {
            throw ClusterMetadataError(.unknownTopicOrPartition, "topic '\(name)' does not exist")
        }
        if let problem = schema.validate(configs) { throw ClusterMetadataError(.invalidConfig, problem) }
        if validateOnly { return }
        let topic = try metadata.setConfigs(topic: name, to: configs)
        try replicas.update(topic: topic, config: schema.logConfig(topic.configs))
    }
}
