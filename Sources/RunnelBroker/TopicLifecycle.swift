import Foundation
import RunnelCluster
import RunnelProtocol
import RunnelStorage
import Synchronization

/// Creating, growing, reconfiguring and deleting topics. CreateTopics, Metadata's
/// auto-creation, CreatePartitions, the config APIs and DeleteTopics all go through here.
///
/// Every change is written to the metadata store and then waited for: it takes effect when
/// the broker applies the image that holds it (`MetadataApplier`), the same path a change
/// made by another broker takes. Creation and growth stay atomic on this broker: the logs of
/// the new partitions it holds are created first, and only when all exist is the change
/// committed; if any cannot be created, those that were are deleted and nothing is
/// committed. A crash in between leaves only directories of partitions the metadata does not
/// know, which start-up deletes. The limits (`PartitionCapacity`) are checked before the disk
/// is touched.
///
/// Topic changes made through this broker run one at a time (`changes`), so a creation's
/// name check, logs and commit see no other local change in between, and a rollback never
/// deletes another creation's logs. Between brokers the store decides (a name is created once).
struct TopicLifecycle: Sendable {
    let store: any MetadataStore
    let view: MetadataView
    let schema: TopicConfigSchema
    let replicas: ReplicaManager
    let config: BrokerConfig
    var capacity = PartitionCapacity()
    let changes = TopicChangeLock()

    /// Creates a topic; -1 partitions or replication factor take the broker defaults. A manual
    /// `assignment` (replica lists by partition index, CreateTopics' `assignments`) replaces
    /// both, as in Kafka.
    func create(
        name: String, partitions: Int32, replicationFactor: Int16, configs: [String: String], validateOnly: Bool = false,
        isInternal: Bool = false, assignment manual: [[Int32]]? = nil
    ) async throws -> TopicMetadata {
        let count = manual.map { Int32(clamping: $0.count) } ?? (partitions == -1 ? config.numPartitions : partitions)
        // Clamped: an absurd assignment is refused by validation, never trapped on.
        let factor = manual.map { Int16(clamping: $0.first?.count ?? 0) } ?? (replicationFactor == -1 ? config.defaultReplicationFactor : replicationFactor)
        return try await changes.run { () async throws -> TopicMetadata in
            if let problem = schema.validate(configs) { throw ClusterMetadataError(.invalidConfig, problem) }
            if let reason = TopicMetadata.validate(name: name) { throw ClusterMetadataError(.invalidTopicException, reason) }
            let image = view.image
            guard image.topic(named: name) == nil else { throw ClusterMetadataError(.topicAlreadyExists, "topic '\(name)' already exists") }
            guard count > 0 else { throw ClusterMetadataError(.invalidPartitions, "number of partitions must be larger than 0") }
            let assignment = try manual.map { try Self.validate(assignment: $0, image: image) }
                ?? place(count: count, firstIndex: 0, replicationFactor: factor, image: image)
            let local = localIndices(assignment, from: 0)
            try capacity.checkRoom(adding: local.count, hosted: replicas.hostedCount)
            let topic = TopicMetadata(
                name: name, id: KafkaUUID.random(), partitionCount: count, replicationFactor: factor, configs: configs,
                isInternal: isInternal)
            if validateOnly { return topic }
            try createLogs(of: topic, partitions: local)
            let revision: Int64
            do {
                revision = try await store.createTopic(topic, partitions: assignment.map(PartitionState.initial(replicas:)))
            } catch {
                removeLogs(of: topic, partitions: local)
                throw error
            }
            try await awaitApplied(revision)
            return topic
        }
    }

    func delete(name: String) async throws -> TopicMetadata {
        guard config.deleteTopicEnable else { throw ClusterMetadataError(.invalidRequest, "topic deletion is disabled (delete.topic.enable=false)") }
        return try await changes.run { () async throws -> TopicMetadata in
            guard let topic = view.image.topic(named: name) else {
                throw ClusterMetadataError(.unknownTopicOrPartition, "topic '\(name)' does not exist")
            }
            if topic.isInternal { throw ClusterMetadataError(.invalidRequest, "internal topic '\(name)' cannot be deleted") }
            // The logs go when the image without the topic is applied.
            try await awaitApplied(try await store.deleteTopic(named: name))
            return topic
        }
    }

    /// Grows a topic to `totalCount` partitions: the new local logs first, then the metadata.
    /// `assignment`: the new partitions' replicas, as CreatePartitions may name them (Kafka's
    /// checks: one list per new partition, the topic's replication factor, registered brokers);
    /// nil places them as for a new topic.
    func addPartitions(topic name: String, totalCount: Int32, assignment manual: [[Int32]]? = nil, validateOnly: Bool)
        async throws -> TopicMetadata
    {
        try await changes.run { () async throws -> TopicMetadata in
            let image = view.image
            guard let topic = image.topic(named: name) else {
                throw ClusterMetadataError(.unknownTopicOrPartition, "topic '\(name)' does not exist")
            }
            guard totalCount > topic.partitionCount else {
                throw ClusterMetadataError(.invalidPartitions, "topic currently has \(topic.partitionCount) partitions, \(totalCount) would not be an increase")
            }
            let added = totalCount - topic.partitionCount
            let assignment: [[Int32]]
            if let manual {
                guard manual.count == Int(added) else {
                    throw ClusterMetadataError(
                        .invalidReplicaAssignment, "attempted to add \(added) additional partitions but \(manual.count) assignments were supplied")
                }
                assignment = try Self.validate(assignment: manual, image: image)
                guard assignment[0].count == Int(topic.replicationFactor) else {
                    throw ClusterMetadataError(
                        .invalidReplicaAssignment,
                        "the assignment has \(assignment[0].count) replicas per partition, the topic's other partitions have \(topic.replicationFactor)")
                }
            } else {
                assignment = try place(
                    count: added, firstIndex: topic.partitionCount, replicationFactor: topic.replicationFactor, image: image)
            }
            let local = localIndices(assignment, from: topic.partitionCount)
            try capacity.checkRoom(adding: local.count, hosted: replicas.hostedCount)
            if validateOnly { return topic }
            var grown = topic
            grown.partitionCount = totalCount
            try createLogs(of: grown, partitions: local)
            let revision: Int64
            do {
                revision = try await store.addPartitions(to: topic, assignment.map(PartitionState.initial(replicas:)))
            } catch {
                removeLogs(of: grown, partitions: local)
                throw error
            }
            try await awaitApplied(revision)
            return grown
        }
    }

    /// Replaces a topic's overrides (after validation); the logs take them when applied.
    func setConfigs(topic name: String, to configs: [String: String], validateOnly: Bool) async throws {
        try await changes.run { () async throws in
            guard view.image.topic(named: name) != nil else {
                throw ClusterMetadataError(.unknownTopicOrPartition, "topic '\(name)' does not exist")
            }
            if let problem = schema.validate(configs) { throw ClusterMetadataError(.invalidConfig, problem) }
            if validateOnly { return }
            try await awaitApplied(try await store.setConfigs(topic: name, to: configs))
        }
    }

    /// Replica lists for new partitions over the live brokers. One broker alone always starts
    /// at itself; in a cluster the start is random per topic so leaders spread.
    private func place(count: Int32, firstIndex: Int32, replicationFactor: Int16, image: MetadataImage) throws -> [[Int32]] {
        let brokers = Array(image.brokers.values)
        return try ReplicaPlacement.place(
            count: count, firstIndex: firstIndex, replicationFactor: replicationFactor, brokers: brokers,
            start: brokers.count > 1 ? Int.random(in: 0..<brokers.count) : 0)
    }

    /// Kafka's checks of a manual assignment: every partition has the same number (> 0) of
    /// distinct replicas, all of them registered brokers.
    static func validate(assignment: [[Int32]], image: MetadataImage) throws -> [[Int32]] {
        guard let factor = assignment.first?.count, factor > 0 else {
            throw ClusterMetadataError(.invalidReplicaAssignment, "the replica assignment names no replicas")
        }
        for (index, replicas) in assignment.enumerated() {
            guard replicas.count == factor else {
                throw ClusterMetadataError(.invalidReplicaAssignment, "partition \(index) has \(replicas.count) replicas, partition 0 has \(factor)")
            }
            guard Set(replicas).count == replicas.count else {
                throw ClusterMetadataError(.invalidReplicaAssignment, "partition \(index) names a broker twice: \(replicas)")
            }
            if let unknown = replicas.first(where: { image.brokers[$0] == nil }) {
                throw ClusterMetadataError(.invalidReplicaAssignment, "partition \(index) names broker \(unknown), which is not registered")
            }
        }
        return assignment
    }

    /// The partition indices (counted from `first`) whose replicas include this broker.
    private func localIndices(_ assignment: [[Int32]], from first: Int32) -> [Int32] {
        assignment.indices.filter { assignment[$0].contains(config.nodeId) }.map { first + Int32($0) }
    }

    private func awaitApplied(_ revision: Int64) async throws {
        guard await view.waitUntilApplied(revision) else {
            throw ClusterMetadataError(.requestTimedOut, "the change was committed but this broker has not applied it yet")
        }
    }

    /// Creates the logs of `partitions` (held here); if one fails, deletes those this call
    /// created and rethrows.
    private func createLogs(of topic: TopicMetadata, partitions: [Int32]) throws {
        let logConfig = schema.logConfig(topic.configs)
        do {
            for index in partitions {
                let topicPartition = TopicPartition(topic: topic.name, partition: index)
                if replicas.logManager.log(for: topicPartition) == nil {
                    let log = try replicas.logManager.createLog(for: topicPartition, config: logConfig)
                    // Marked as this topic's, so a rollback deletes only what it made.
                    try PartitionMetadataFile.write(topic.id, directory: log.directory)
                }
            }
        } catch {
            removeLogs(of: topic, partitions: partitions)
            throw error
        }
    }

    /// Rollback of `createLogs`: deletes the partitions' logs this creation made (never one an
    /// image started hosting meanwhile: another broker may have created the same name first).
    /// What stays behind belongs to partitions the metadata does not have, and start-up
    /// deletes those.
    private func removeLogs(of topic: TopicMetadata, partitions: [Int32]) {
        replicas.removeUnhostedLogs(topic: topic.name, indices: partitions, topicId: topic.id)
    }
}

/// Serializes topic changes (see `TopicLifecycle`) across awaits. A reference type, so that
/// every copy of the `TopicLifecycle` value shares one queue; waiters run in arrival order.
actor TopicChangeLock {
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func run<T: Sendable>(_ change: @Sendable () async throws -> T) async throws -> T {
        if busy {
            await withCheckedContinuation { waiting.append($0) }
        } else {
            busy = true
        }
        // Hand the lock straight to the next waiter, or free it.
        defer { if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() } }
        return try await change()
    }
}
