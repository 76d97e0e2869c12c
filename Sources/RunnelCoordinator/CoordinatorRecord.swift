/// The records the group coordinator writes to `__consumer_offsets` and replays at load.
///
/// Key: int16 type (1 = offset commit), then the group, topic and partition. Value: the
/// committed offset, leader epoch, metadata and commit time; a null value (tombstone) removes
/// it (OffsetDelete, DeleteGroups, expiry). Encoded big-endian by hand: the coordinator is pure
/// and imports no byte-buffer library.
public enum CoordinatorRecord: Sendable, Equatable {
    case offsetCommit(groupId: String, partition: GroupTopicPartition, value: OffsetAndMetadata?)

    static let offsetCommitType: Int16 = 1

    public var key: [UInt8] {
        switch self {
        case .offsetCommit(let groupId, let partition, _):
            var writer = ByteWriter()
            writer.write(Self.offsetCommitType)
            writer.write(groupId)
            writer.write(partition.topic)
            writer.write(partition.partition)
            return writer.bytes
        }
    }

    public var value: [UInt8]? {
        switch self {
        case .offsetCommit(_, _, let value):
            guard let value else { return nil }
            var writer = ByteWriter()
            writer.write(value.offset)
            writer.write(value.leaderEpoch)
            writer.write(value.metadata ?? "")
            writer.write(value.commitTimestamp)
            return writer.bytes
        }
    }

    /// Decodes a stored record; nil for a record of a type this version does not know.
    public init?(key: [UInt8], value: [UInt8]?) {
        var reader = ByteReader(key)
        guard let type: Int16 = reader.read(), type == Self.offsetCommitType,
              let groupId = reader.readString(), let topic = reader.readString(), let partition: Int32 = reader.read()
        else { return nil }
        var offset: OffsetAndMetadata?
        if let value {
            var valueReader = ByteReader(value)
            guard let committed: Int64 = valueReader.read(), let epoch: Int32 = valueReader.read(),
                  let metadata = valueReader.readString(), let timestamp: Int64 = valueReader.read()
            else { return nil }
            offset = OffsetAndMetadata(offset: committed, leaderEpoch: epoch, metadata: metadata, commitTimestamp: timestamp)
        }
        self = .offsetCommit(groupId: groupId, partition: GroupTopicPartition(topic: topic, partition: partition), value: offset)
    }
}

/// A partition named by topic, as the coordinator sees it.
public struct GroupTopicPartition: Hashable, Sendable, Comparable {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition) }
}

/// A committed offset (OffsetCommit) as OffsetFetch returns it.
public struct OffsetAndMetadata: Sendable, Equatable {
    public var offset: Int64
    public var leaderEpoch: Int32
    public var metadata: String?
    public var commitTimestamp: Int64

    public init(offset: Int64, leaderEpoch: Int32, metadata: String?, commitTimestamp: Int64) {
        self.offset = offset
        self.leaderEpoch = leaderEpoch
        self.metadata = metadata
        self.commitTimestamp = commitTimestamp
    }
}

struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func write<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func write(_ string: String) {
        write(Int32(string.utf8.count))
        bytes.append(contentsOf: string.utf8)
    }
}

struct ByteReader {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func read<T: FixedWidthInteger>() -> T? {
        let size = MemoryLayout<T>.size
        guard bytes.count - position >= size else { return nil }
        var value: T = 0
        for byte in bytes[position..<(position + size)] { value = value << 8 | T(byte) }
        position += size
        return value
    }

    mutating func readString() -> String? {
        guard let length: Int32 = read(), length >= 0, bytes.count - position >= Int(length) else { return nil }
        defer { position += Int(length) }
        return String(decoding: bytes[position..<(position + Int(length))], as: UTF8.self)
    }
}
