import Foundation
#if canImport(Glibc)
import Glibc
#endif
import RunnelProtocol
import Synchronization

/// Cluster metadata for a single broker, kept in a JSON file in the data directory: the
/// default store, used when no `--metadata etcd://...` is given.
///
/// Every change is written atomically (temporary file, fsync, rename) before it is visible,
/// so a topic a client was told exists survives a crash. The one broker is always live and
/// always the controller; its lease never expires.
///
/// Concurrency: all state sits in one `Mutex`; a write persists and publishes (through
/// `ImageBroadcast`) under it, so images reach subscribers in revision order.
public final class EmbeddedMetadataStore: MetadataStore, Sendable {
    struct Snapshot: Codable, Sendable {
        var clusterId: String
        var topics: [String: TopicMetadata]
        /// Each topic's partition states by index. Absent in files written before partitions
        /// had state: those partitions are led by this broker alone.
        var partitions: [String: [PartitionState]]?
        /// Producer ids below this were handed out (in blocks) before; a restart continues above.
        var producerIdsAllocatedUpTo: Int64?
        /// Consumer groups' config overrides by group id (absent in older files).
        var groupConfigs: [String: [String: String]]?
    }

    private struct State {
        var snapshot: Snapshot
        var image: MetadataImage
    }

    public let path: String
    public let brokerId: Int32
    private let state: Mutex<State>
    private let broadcast: ImageBroadcast

    /// Opens the store at `directory/cluster-metadata.json`, creating it with a new cluster id.
    public init(directory: String, brokerId: Int32) throws {
        path = directory + "/cluster-metadata.json"
        self.brokerId = brokerId
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let snapshot: Snapshot
        if FileManager.default.fileExists(atPath: path) {
            snapshot = try Self.read(path)
        } else {
            snapshot = Snapshot(clusterId: Self.newClusterId(), topics: [:])
            try Self.write(snapshot, to: path)
        }
        let image = Self.image(of: snapshot, revision: 1, brokerId: brokerId)
        state = Mutex(State(snapshot: snapshot, image: image))
        broadcast = ImageBroadcast(image)
    }

    /// The image of a snapshot; the revision counts changes since the store was opened. A
    /// partition keeps its version from `previous` while its state (and topic) is unchanged,
    /// as an etcd key keeps its mod revision.
    private static func image(
        of snapshot: Snapshot, revision: Int64, brokerId: Int32, previous: MetadataImage? = nil
    ) -> MetadataImage {
        var partitions: [TopicPartition: VersionedPartitionState] = [:]
        for topic in snapshot.topics.values {
            let states = snapshot.partitions?[topic.name] ?? []
            let sameTopic = previous?.topicsByName[topic.name]?.id == topic.id
            for index in 0..<topic.partitionCount {
                let key = TopicPartition(topic: topic.name, partition: index)
                let state = Int(index) < states.count ? states[Int(index)] : PartitionState.initial(replicas: [brokerId])
                let kept = sameTopic ? previous?.partitions[key].flatMap { $0.state == state ? $0.version : nil } : nil
                partitions[key] = VersionedPartitionState(state: state, version: kept ?? revision)
            }
        }
        return MetadataImage(
            clusterId: snapshot.clusterId, revision: revision, topicsByName: snapshot.topics, partitions: partitions,
            brokers: previous?.brokers ?? [:], controllerId: brokerId, groupConfigs: snapshot.groupConfigs ?? [:])
    }

    /// Reads the snapshot at `path`; any failure names the file (an operator must find it).
    static func read(_ path: String) throws(MetadataFileError) -> Snapshot {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw MetadataFileError(path: path, reason: "cannot be read: \(error.localizedDescription)")
        }
        do {
            return try JSONDecoder().decode(Snapshot.self, from: data)
        } catch let DecodingError.dataCorrupted(context) {
            throw MetadataFileError(path: path, reason: "is not valid JSON (\(data.count) bytes): \(context.debugDescription)")
        } catch let DecodingError.keyNotFound(key, _) {
            throw MetadataFileError(path: path, reason: "lacks the field \(key.stringValue)")
        } catch {
            throw MetadataFileError(path: path, reason: "is not cluster metadata: \(error)")
        }
    }

    /// Kafka cluster ids are 22 characters of URL-safe base64 of a UUID.
    public static func newClusterId() -> String { KafkaUUID.random().base64URL }

    public var clusterId: String { state.withLock { $0.snapshot.clusterId } }

    public func currentImage() -> MetadataImage { state.withLock { $0.image } }

    public func updates() -> AsyncStream<MetadataImage> { broadcast.subscribe() }

    public func createTopic(_ topic: TopicMetadata, partitions: [PartitionState]) async throws -> Int64 {
        try mutate { snapshot in
            guard snapshot.topics[topic.name] == nil else {
                throw ClusterMetadataError(.topicAlreadyExists, "topic '\(topic.name)' already exists")
            }
            snapshot.topics[topic.name] = topic
            snapshot.partitions = snapshot.partitions ?? [:]
            snapshot.partitions?[topic.name] = partitions
        }
    }

    public func deleteTopic(named name: String) async throws -> Int64 {
        try mutate { snapshot in
            guard snapshot.topics.removeValue(forKey: name) != nil else {
                throw ClusterMetadataError(.unknownTopicOrPartition, "topic '\(name)' does not exist")
            }
            snapshot.partitions?.removeValue(forKey: name)
        }
    }

    public func addPartitions(to topic: TopicMetadata, _ added: [PartitionState]) async throws -> Int64 {
        try mutate { snapshot in
            guard var current = snapshot.topics[topic.name], current.id == topic.id,
                  current.partitionCount == topic.partitionCount
            else {
                throw ClusterMetadataError(.unknownTopicOrPartition, "topic '\(topic.name)' changed meanwhile; try again")
            }
            var states = snapshot.partitions?[topic.name]
                ?? Array(repeating: PartitionState.initial(replicas: [brokerId]), count: Int(current.partitionCount))
            states.append(contentsOf: added)
            current.partitionCount += Int32(added.count)
            snapshot.topics[topic.name] = current
            snapshot.partitions = snapshot.partitions ?? [:]
            snapshot.partitions?[topic.name] = states
        }
    }

    public func setConfigs(topic name: String, to configs: [String: String]) async throws -> Int64 {
        try mutate { snapshot in
            guard snapshot.topics[name] != nil else {
                throw ClusterMetadataError(.unknownTopicOrPartition, "topic '\(name)' does not exist")
            }
            snapshot.topics[name]?.configs = configs
        }
    }

    public func setConfigs(group groupId: String, to configs: [String: String]) async throws -> Int64 {
        try mutate { snapshot in
            snapshot.groupConfigs = snapshot.groupConfigs ?? [:]
            snapshot.groupConfigs?[groupId] = configs.isEmpty ? nil : configs
        }
    }

    public func compareAndSet(
        _ partition: TopicPartition, expected: Int64, to newState: PartitionState, ifGone broker: Int32?
    ) async throws -> CompareAndSetResult {
        // `mutate` checks the version under the lock the write holds.
        do {
            let revision = try mutate { snapshot in
                guard let topic = snapshot.topics[partition.topic], partition.partition < topic.partitionCount else {
                    throw CompareAndSetConflict()
                }
                var states = snapshot.partitions?[partition.topic]
                    ?? Array(repeating: PartitionState.initial(replicas: [brokerId]), count: Int(topic.partitionCount))
                states[Int(partition.partition)] = newState
                snapshot.partitions = snapshot.partitions ?? [:]
                snapshot.partitions?[partition.topic] = states
            } precondition: { image in
                image.partitions[partition]?.version == expected && (broker.map { image.brokers[$0] == nil } ?? true)
            }
            return .committed(revision: revision)
        } catch is CompareAndSetConflict {
            return .conflict(state.withLock { $0.image.partitions[partition] })
        }
    }

    private struct CompareAndSetConflict: Error {}

    /// Reserves the next `count` producer ids, durably, and returns the first.
    public func allocateProducerIds(count: Int64) async throws -> Int64 {
        var first: Int64 = 0
        _ = try mutate { snapshot in
            first = snapshot.producerIdsAllocatedUpTo ?? 0
            guard count > 0, first <= Int64.max - count else {
                throw ClusterMetadataError(.unknownServerError, "producer ids exhausted (\(first) allocated)")
            }
            snapshot.producerIdsAllocatedUpTo = first + count
        }
        return first
    }

    /// The one broker is live from its registration on; nothing can expire it.
    public func register(_ registration: BrokerRegistration) async throws -> any BrokerLease {
        publish { $0.brokers[registration.brokerId] = registration }
        return PermanentLease()
    }

    public func close() async { broadcast.finish() }

    /// Applies a change to a copy, persists it, then publishes the new image; returns its
    /// revision. `precondition` is checked against the current image under the same lock.
    private func mutate(
        _ change: (inout Snapshot) throws -> Void, precondition: (MetadataImage) -> Bool = { _ in true }
    ) throws -> Int64 {
        try state.withLock { current in
            guard precondition(current.image) else { throw CompareAndSetConflict() }
            var next = current.snapshot
            try change(&next)
            try Self.write(next, to: path)
            current.snapshot = next
            current.image = Self.image(of: next, revision: current.image.revision + 1, brokerId: brokerId, previous: current.image)
            broadcast.publish(current.image)
            return current.image.revision
        }
    }

    /// Publishes an image change that is not persisted (the live broker).
    private func publish(_ change: (inout MetadataImage) -> Void) {
        state.withLock { current in
            change(&current.image)
            current.image.revision += 1
            broadcast.publish(current.image)
        }
    }

    private static func write(_ snapshot: Snapshot, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(snapshot)
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: data) else {
            throw ClusterMetadataError(.unknownServerError, "cannot write \(temporary)")
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
        try handle.synchronize()
        try handle.close()
        // rename(2) replaces the old file atomically: readers see the old or the new, never half.
        guard rename(temporary, path) == 0 else {
            throw ClusterMetadataError(.unknownServerError, "cannot rename \(temporary): errno \(errno)")
        }
        // The rename is a change to the directory: only an fsync of the directory makes it
        // survive a power loss (else the old file, or none, may come back).
        let directory = (path as NSString).deletingLastPathComponent
        let descriptor = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw ClusterMetadataError(.unknownServerError, "cannot open \(directory) to fsync it: errno \(errno)")
        }
        defer { Glibc.close(descriptor) }
        guard fsync(descriptor) == 0 else {
            throw ClusterMetadataError(.unknownServerError, "cannot fsync \(directory): errno \(errno)")
        }
    }
}

/// The cluster metadata file cannot be used; the message names it.
public struct MetadataFileError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String

    public var description: String { "cluster metadata file \(path) \(reason)" }
}

/// The embedded store's lease: a single broker is never fenced by anyone.
struct PermanentLease: BrokerLease {
    func isValid() -> Bool { true }
    var registrationRevision: Int64 { 0 }
    func lost() async {
        // Never lost: wait until the caller is cancelled.
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
    }
    func release() async {}
}
