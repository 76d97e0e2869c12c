import Foundation
import RunnelProtocol

/// The writes: each a transaction that compares what it replaces.
extension EtcdMetadataStore {
    /// etcd refuses transactions of more than `--max-txn-ops` operations (128 by default).
    static let operationsPerTransaction = 100

    public func createTopic(_ topic: TopicMetadata, partitions: [PartitionState]) async throws -> Int64 {
        // The partition states first, under the new topic's id (nobody else writes there), in
        // transactions of bounded size; then the topic, if its name is free. Readers ignore
        // partitions of a topic id they do not know, so a topic appears whole or not at all.
        try await putPartitions(of: topic.id, from: 0, partitions, ifUnchanged: [])
        let result = try await client.transaction(
            if: [.createRevision(key: keys.topic(topic.name), equals: 0)],
            then: [.put(key: keys.topic(topic.name), value: Self.json(topic))])
        guard result.succeeded else {
            _ = try? await client.transaction(if: [], then: [.deletePrefix(keys.partitions(of: topic.id))])
            throw ClusterMetadataError(.topicAlreadyExists, "topic '\(topic.name)' already exists")
        }
        return result.revision
    }

    public func deleteTopic(named name: String) async throws -> Int64 {
        guard let (topic, version) = currentFacts().topics[name] else {
            throw ClusterMetadataError(.unknownTopicOrPartition, "topic '\(name)' does not exist")
        }
        let result = try await client.transaction(
            if: [.modRevision(key: keys.topic(name), equals: version)],
            then: [.delete(key: keys.topic(name)), .deletePrefix(keys.partitions(of: topic.id))])
        guard result.succeeded else {
            throw ClusterMetadataError(.unknownTopicOrPartition, "topic '\(name)' changed while being deleted; try again")
        }
        return result.revision
    }

    public func addPartitions(to topic: TopicMetadata, _ added: [PartitionState]) async throws -> Int64 {
        guard let (current, version) = currentFacts().topics[topic.name], current.id == topic.id,
              current.partitionCount == topic.partitionCount
        else {
            throw ClusterMetadataError(.unknownTopicOrPartition, "topic '\(topic.name)' changed meanwhile; try again")
        }
        // New partition states beyond the current count are invisible until the topic's count
        // grows; each chunk is written only while the topic is as read, so a rival growth
        // that committed first is never overwritten.
        let unchanged: [EtcdCompare] = [.modRevision(key: keys.topic(topic.name), equals: version)]
        guard try await putPartitions(of: topic.id, from: topic.partitionCount, added, ifUnchanged: unchanged) else {
            throw ClusterMetadataError(.unknownTopicOrPartition, "topic '\(topic.name)' changed meanwhile; try again")
        }
        var grown = current
        grown.partitionCount += Int32(added.count)
        let result = try await client.transaction(
            if: [.modRevision(key: keys.topic(topic.name), equals: version)],
            then: [.put(key: keys.topic(topic.name), value: Self.json(grown))])
        guard result.succeeded else {
            throw ClusterMetadataError(.unknownTopicOrPartition, "topic '\(topic.name)' changed meanwhile; try again")
        }
        return result.revision
    }

    public func setConfigs(topic name: String, to configs: [String: String]) async throws -> Int64 {
        guard let (current, version) = currentFacts().topics[name] else {
            throw ClusterMetadataError(.unknownTopicOrPartition, "topic '\(name)' does not exist")
        }
        var changed = current
        changed.configs = configs
        let result = try await client.transaction(
            if: [.modRevision(key: keys.topic(name), equals: version)],
            then: [.put(key: keys.topic(name), value: Self.json(changed))])
        guard result.succeeded else {
            throw ClusterMetadataError(.unknownTopicOrPartition, "topic '\(name)' changed meanwhile; try again")
        }
        return result.revision
    }

    public func setConfigs(group groupId: String, to configs: [String: String]) async throws -> Int64 {
        // The last writer wins, as for Kafka's config records: the request carried the whole set.
        let key = keys.groupConfigs(groupId)
        let result = try await client.transaction(
            if: [], then: [configs.isEmpty ? .delete(key: key) : .put(key: key, value: Self.json(configs))])
        return result.revision
    }

    public func compareAndSet(
        _ partition: TopicPartition, expected: Int64, to newState: PartitionState, ifGone broker: Int32?
    ) async throws -> CompareAndSetResult {
        try await compareAndSet(partition, expected: expected, to: newState, also: broker.map { [brokerGone($0)] } ?? [])
    }

    /// A controller's compare-and-set: also requires that it still holds the controller key
    /// it won (`epoch` is that key's create revision), so a deposed controller writes nothing.
    /// When it deposes a live-looking leader, `deposing` names it: the write then also
    /// requires that broker's registration to be gone (a stale image must not depose a leader
    /// that has just registered again).
    public func compareAndSet(
        _ partition: TopicPartition, expected: Int64, to newState: PartitionState, controllerEpoch epoch: Int64, deposing: Int32? = nil
    ) async throws -> CompareAndSetResult {
        try await compareAndSet(
            partition, expected: expected, to: newState,
            also: [.createRevision(key: keys.controller, equals: epoch)] + (deposing.map { [brokerGone($0)] } ?? []))
    }

    private func compareAndSet(
        _ partition: TopicPartition, expected: Int64, to newState: PartitionState, also: [EtcdCompare]
    ) async throws -> CompareAndSetResult {
        guard let topic = currentFacts().topics[partition.topic]?.topic else { return .conflict(nil) }
        let key = keys.partition(topic.id, partition.partition)
        let result = try await client.transaction(
            if: [.modRevision(key: key, equals: expected)] + also,
            then: [.put(key: key, value: Self.json(newState))],
            else: [.get(key: key)])
        if result.succeeded { return .committed(revision: result.revision) }
        guard let current = result.reads.first?.first,
              let state = try? JSONDecoder().decode(PartitionState.self, from: Data(current.value))
        else { return .conflict(nil) }
        return .conflict(VersionedPartitionState(state: state, version: current.modRevision))
    }

    public func allocateProducerIds(count: Int64) async throws -> Int64 {
        // A compare-and-swap loop on the counter: two brokers never get the same block.
        while true {
            let (current, _) = try await client.get(keys.producerIds)
            let next = try current.map { try JSONDecoder().decode(ProducerIdRecord.self, from: Data($0.value)).next } ?? 0
            guard count > 0, next <= Int64.max - count else {
                throw ClusterMetadataError(.unknownServerError, "producer ids exhausted (\(next) allocated)")
            }
            let compare: EtcdCompare = current.map { .modRevision(key: keys.producerIds, equals: $0.modRevision) }
                ?? .createRevision(key: keys.producerIds, equals: 0)
            let result = try await client.transaction(
                if: [compare], then: [.put(key: keys.producerIds, value: Self.json(ProducerIdRecord(next: next + count)))])
            if result.succeeded { return next }
        }
    }

    /// Writes partition states `first, first+1, ...` of a topic id, in bounded transactions,
    /// each only if `ifUnchanged` holds; false (nothing more written) when one does not.
    @discardableResult
    private func putPartitions(
        of topicId: KafkaUUID, from first: Int32, _ states: [PartitionState], ifUnchanged compares: [EtcdCompare]
    ) async throws -> Bool {
        var index = 0
        while index < states.count {
            let chunk = states[index..<min(index + Self.operationsPerTransaction, states.count)]
            let puts = chunk.enumerated().map { offset, state in
                EtcdOperation.put(key: keys.partition(topicId, first + Int32(index + offset)), value: Self.json(state))
            }
            guard try await client.transaction(if: compares, then: puts).succeeded else { return false }
            index += chunk.count
        }
        return true
    }

    /// The compare that holds only while `broker` has no registration: its lease ended, so it
    /// cannot be acting as leader. Elections that depose a leader carry it.
    func brokerGone(_ broker: Int32) -> EtcdCompare {
        .createRevision(key: keys.broker(broker), equals: 0)
    }
}
