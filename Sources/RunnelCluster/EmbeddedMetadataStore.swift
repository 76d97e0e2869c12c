import Foundation
#if canImport(Glibc)
import Glibc
#endif
import RunnelProtocol
import Synchronization

/// Cluster metadata for a single broker, kept in a JSON file in the data directory.
///
/// Every change is written atomically (temporary file, fsync, rename) before it is visible,
/// so a topic a client was told exists survives a crash. A multi-broker cluster will keep the
/// same facts in etcd behind the same interface.
public final class EmbeddedMetadataStore: Sendable {
    struct Snapshot: Codable, Sendable {
        var clusterId: String
        var topics: [String: TopicMetadata]
        /// Producer ids below this were handed out (in blocks) before; a restart continues above.
        var producerIdsAllocatedUpTo: Int64?
    }

    public let path: String
    public let brokerId: Int32
    private let state: Mutex<Snapshot>

    /// Opens the store at `directory/cluster-metadata.json`, creating it with a new cluster id.
    public init(directory: String, brokerId: Int32) throws {
        path = directory + "/cluster-metadata.json"
        self.brokerId = brokerId
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if FileManager.default.fileExists(atPath: path) {
            state = Mutex(try Self.read(path))
        } else {
            let snapshot = Snapshot(clusterId: Self.newClusterId(), topics: [:])
            try Self.write(snapshot, to: path)
            state = Mutex(snapshot)
        }
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
    static func newClusterId() -> String {
        let id = KafkaUUID.random()
        var bytes: [UInt8] = []
        withUnsafeBytes(of: id.high.bigEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: id.low.bigEndian) { bytes.append(contentsOf: $0) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    public var clusterId: String { state.withLock { $0.clusterId } }

    public var topics: [TopicMetadata] {
        state.withLock { Array($0.topics.values) }.sorted { $0.name < $1.name }
    }

    public func topic(named name: String) -> TopicMetadata? { state.withLock { $0.topics[name] } }

    public func topic(id: KafkaUUID) -> TopicMetadata? {
        state.withLock { $0.topics.values.first { $0.id == id } }
    }

    public func createTopic(
        name: String, partitions: Int32, replicationFactor: Int16, configs: [String: String], isInternal: Bool = false
    ) throws -> TopicMetadata {
        if let reason = TopicMetadata.validate(name: name) { throw ClusterMetadataError(.invalidTopicException, reason) }
        guard partitions > 0 else { throw ClusterMetadataError(.invalidPartitions, "number of partitions must be larger than 0") }
        guard replicationFactor == 1 else {
            throw ClusterMetadataError(
                .invalidReplicationFactor, "replication factor \(replicationFactor) is larger than the 1 available broker")
        }
        return try mutate { snapshot in
            guard snapshot.topics[name] == nil else {
                throw ClusterMetadataError(.topicAlreadyExists, "topic '\(name)' already exists")
            }
            let topic = TopicMetadata(
                name: name, id: KafkaUUID.random(), partitionCount: partitions, replicationFactor: replicationFactor,
                configs: configs, isInternal: isInternal)
            snapshot.topics[name] = topic
            return topic
        }
    }

    public func deleteTopic(named name: String) throws -> TopicMetadata {
        try mutate { snapshot in
            guard let topic = snapshot.topics.removeValue(forKey: name) else {
                throw ClusterMetadataError(.unknownTopicOrPartition, "topic '\(name)' does not exist")
            }
            return topic
        }
    }

    public func setPartitionCount(topic name: String, to count: Int32) throws -> TopicMetadata {
        try mutate { snapshot in
            guard var topic = snapshot.topics[name] else {
                throw ClusterMetadataError(.unknownTopicOrPartition, "topic '\(name)' does not exist")
            }
            guard count > topic.partitionCount else {
                throw ClusterMetadataError(
                    .invalidPartitions, "topic currently has \(topic.partitionCount) partitions, \(count) would not be an increase")
            }
            topic.partitionCount = count
            snapshot.topics[name] = topic
            return topic
        }
    }

    public func setConfigs(topic name: String, to configs: [String: String]) throws -> TopicMetadata {
        try mutate { snapshot in
            guard var topic = snapshot.topics[name] else {
                throw ClusterMetadataError(.unknownTopicOrPartition, "topic '\(name)' does not exist")
            }
            topic.configs = configs
            snapshot.topics[name] = topic
            return topic
        }
    }

    /// Reserves the next `count` producer ids, durably, and returns the first.
    public func allocateProducerIds(count: Int64) throws -> Int64 {
        try mutate { snapshot in
            let first = snapshot.producerIdsAllocatedUpTo ?? 0
            guard count > 0, first <= Int64.max - count else {
                throw ClusterMetadataError(.unknownServerError, "producer ids exhausted (\(first) allocated)")
            }
            snapshot.producerIdsAllocatedUpTo = first + count
            return first
        }
    }

    /// Applies a change to a copy, persists it, then publishes it.
    private func mutate<T>(_ change: (inout Snapshot) throws -> T) throws -> T {
        try state.withLock { current in
            var next = current
            let result = try change(&next)
            try Self.write(next, to: path)
            current = next
            return result
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
        defer { close(descriptor) }
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
