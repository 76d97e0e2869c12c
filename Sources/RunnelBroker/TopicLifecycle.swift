import Foundation
import RunnelCluster
import RunnelProtocol
import RunnelStorage
import Synchronization

/// Creating, growing, reconfiguring and deleting topics. CreateTopics, Metadata's
/// auto-creation, CreatePartitions, the config APIs and DeleteTopics all go through here.
///
/// Creation and growth are atomic: every new partition's log is created first, and only when
/// all exist is the metadata change committed (durably). If any log cannot be created, the
/// ones that were are deleted again and nothing is committed. So a topic in the metadata always
/// has all its logs; a crash in between leaves only directories of partitions the metadata does
/// not know, which start-up deletes. The limits (`PartitionCapacity`) are checked before the
/// disk is touched.
///
/// Topic changes run one at a time (`changes`), so a creation's name check, logs and commit
/// see no other change in between, and a rollback never deletes another creation's logs.
struct TopicLifecycle: Sendable {
    let metadata: EmbeddedMetadataStore
    let schema: TopicConfigSchema
    let replicas: ReplicaManager
    let config: BrokerConfig
    var capacity = PartitionCapacity()
    let changes = TopicChangeLock()

    /// Creates a topic; -1 partitions or replication factor take the broker defaults.
    func create(
        name: String, partitions: Int32, replicationFactor: Int16, configs: [String: String], validateOnly: Bool = false,
        isInternal: Bool = false
    ) throws -> TopicMetadata {
        let count = partitions == -1 ? config.numPartitions : partitions
        let factor = replicationFactor == -1 ? config.defaultReplicationFactor : replicationFactor
        return try changes.run { () throws -> TopicMetadata in
            if let problem = schema.validate(configs) { throw ClusterMetadataError(.invalidConfig, problem) }
            if let reason = TopicMetadata.validate(name: name) { throw ClusterMetadataError(.invalidTopicException, reason) }
            guard metadata.topic(named: name) == nil else { throw ClusterMetadataError(.topicAlreadyExists, "topic '\(name)' already exists") }
            guard count > 0 else { throw ClusterMetadataError(.invalidPartitions, "number of partitions must be larger than 0") }
            guard factor == 1 else { throw ClusterMetadataError(.invalidReplicationFactor, "replication factor must be 1 on a single broker") }
            try capacity.checkRoom(adding: Int(count), hosted: hostedPartitionCount)
            let planned = TopicMetadata(
                name: name, id: .zero, partitionCount: count, replicationFactor: factor, configs: configs, isInternal: isInternal)
            if validateOnly { return planned }
            try createLogs(of: planned, partitions: 0..<count)
            do {
                return try metadata.createTopic(
                    name: name, partitions: count, replicationFactor: factor, configs: configs, isInternal: isInternal)
            } catch {
                removeLogs(topic: name, partitions: 0..<count)
                throw error
            }
        }
    }

    func delete(name: String) throws -> TopicMetadata {
        guard config.deleteTopicEnable else { throw ClusterMetadataError(.invalidRequest, "topic deletion is disabled (delete.topic.enable=false)") }
        return try changes.run { () throws -> TopicMetadata in
            if metadata.topic(named: name)?.isInternal == true {
                throw ClusterMetadataError(.invalidRequest, "internal topic '\(name)' cannot be deleted")
            }
            let topic = try metadata.deleteTopic(named: name)
            try replicas.removePartitions(of: topic)
            return topic
        }
    }

    /// Grows a topic to `totalCount` partitions: the new logs first, then the metadata.
    func addPartitions(topic name: String, totalCount: Int32, validateOnly: Bool) throws -> TopicMetadata {
        try changes.run { () throws -> TopicMetadata in
            guard let topic = metadata.topic(named: name) else {
                throw ClusterMetadataError(.unknownTopicOrPartition, "topic '\(name)' does not exist")
            }
            guard totalCount > topic.partitionCount else {
                throw ClusterMetadataError(.invalidPartitions, "topic currently has \(topic.partitionCount) partitions, \(totalCount) would not be an increase")
            }
            try capacity.checkRoom(adding: Int(totalCount) - Int(topic.partitionCount), hosted: hostedPartitionCount)
            if validateOnly { return topic }
            var grown = topic
            grown.partitionCount = totalCount
            let added = topic.partitionCount..<totalCount
            try createLogs(of: grown, partitions: added)
            do {
                return try metadata.setPartitionCount(topic: name, to: totalCount)
            } catch {
                removeLogs(topic: name, partitions: added)
                throw error
            }
        }
    }

    /// Replaces a topic's overrides (after validation) and applies them to its logs.
    func setConfigs(topic name: String, to configs: [String: String], validateOnly: Bool) throws {
        try changes.run { () throws in
            guard metadata.topic(named: name) != nil else {
                throw ClusterMetadataError(.unknownTopicOrPartition, "topic '\(name)' does not exist")
            }
            if let problem = schema.validate(configs) { throw ClusterMetadataError(.invalidConfig, problem) }
            if validateOnly { return }
            let topic = try metadata.setConfigs(topic: name, to: configs)
            try replicas.update(topic: topic, config: schema.logConfig(topic.configs))
        }
    }

    /// Partitions the metadata holds, all of which this single broker hosts.
    private var hostedPartitionCount: Int {
        metadata.topics.reduce(0) { $0 + Int($1.partitionCount) }
    }

    /// Creates (and takes leadership of) the logs of `partitions`; if one fails, deletes those
    /// this call created and rethrows.
    private func createLogs(of topic: TopicMetadata, partitions: Range<Int32>) throws {
        do {
            try replicas.becomeLeader(of: topic, config: schema.logConfig(topic.configs))
        } catch {
            removeLogs(topic: topic.name, partitions: partitions)
            throw error
        }
    }

    /// Rollback of `createLogs`: deletes the partitions' logs, and the directory of one whose
    /// creation failed half-way (made, but its log never opened, so the log manager does not
    /// know it). Best effort: what stays behind belongs to partitions the metadata does not
    /// have, and start-up deletes those.
    private func removeLogs(topic: String, partitions: Range<Int32>) {
        try? replicas.removePartitions(topic: topic, indices: partitions)
        for index in partitions {
            let name = TopicPartition(topic: topic, partition: index).directoryName
            for directory in replicas.logManager.directories {
                var isDirectory: ObjCBool = false
                let path = directory + "/" + name
                if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                    try? FileManager.default.removeItem(atPath: path)
                }
            }
        }
    }
}

/// Serializes topic changes (see `TopicLifecycle`). A class so that every copy of the
/// `TopicLifecycle` value shares one lock.
final class TopicChangeLock: Sendable {
    private let mutex = Mutex(())

    func run<T>(_ change: () throws -> T) throws -> T {
        try mutex.withLock { _ throws -> T in try change() }
    }
}
