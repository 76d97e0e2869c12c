/// The records the group coordinator writes to `__consumer_offsets` and replays at load.
///
/// Key: int16 type (1 = offset commit), then the group, topic and partition. Value: the
/// committed offset, leader epoch, metadata and commit time; a null value (tombstone) removes
/// it (OffsetDelete, DeleteGroups, expiry). Encoded big-endian by hand: the coordinator is pure
/// and imports no byte-buffer library.
public enum CoordinatorRecord: Sendable, Equatable {
    case offsetCommit(groupId: String, partition: GroupTopicPartition, value: OffsetAndMetadata?)
    /// A classic group's generation, protocol, leader and members, written when a rebalance
    /// completes or the group empties, so that members keep their generation across a restart.
    case groupMetadata(groupId: String, value: GroupMetadataValue?)

    static let offsetCommitType: Int16 = 1
    static let groupMetadataType: Int16 = 2

    public var key: [UInt8] {
        switch self {
        case .offsetCommit(let groupId, let partition, _):
            var writer = ByteWriter()
            writer.write(Self.offsetCommitType)
            writer.write(groupId)
            writer.write(partition.topic)
            writer.write(partition.partition)
            return writer.bytes
        case .groupMetadata(let groupId, _):
            var writer = ByteWriter()
            writer.write(Self.groupMetadataType)
            writer.write(groupId)
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
        case .groupMetadata(_, let value):
            guard let value else { return nil }
            var writer = ByteWriter()
            writer.write(value.protocolType)
            writer.write(value.generationId)
            writer.write(value.protocolName)
            writer.write(value.leaderId)
            writer.write(Int32(value.members.count))
            for member in value.members {
                writer.write(member.memberId)
                writer.write(member.groupInstanceId ?? "")
                writer.write(member.clientId)
                writer.write(member.clientHost)
                writer.write(member.sessionTimeoutMs)
                writer.write(member.rebalanceTimeoutMs)
                writer.write(member.subscription)
                writer.write(member.assignment)
            }
            return writer.bytes
        }
    }

    /// Decodes a stored record; nil for a record of a type this version does not know.
    public init?(key: [UInt8], value: [UInt8]?) {
        var reader = ByteReader(key)
        guard let type: Int16 = reader.read(), let groupId = reader.readString() else { return nil }
        if type == Self.groupMetadataType {
            guard let value else {
                self = .groupMetadata(groupId: groupId, value: nil)
                return
            }
            guard let decoded = GroupMetadataValue(value) else { return nil }
            self = .groupMetadata(groupId: groupId, value: decoded)
            return
        }
        guard type == Self.offsetCommitType, let topic = reader.readString(), let partition: Int32 = reader.read() else { return nil }
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

/// The stored form of a classic group (see `CoordinatorRecord.groupMetadata`).
public struct GroupMetadataValue: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public var memberId: String
        public var groupInstanceId: String?
        public var clientId: String
        public var clientHost: String
        public var sessionTimeoutMs: Int32
        public var rebalanceTimeoutMs: Int32
        /// The member's metadata for the chosen protocol.
        public var subscription: [UInt8]
        public var assignment: [UInt8]
    }

    public var protocolType: String
    public var generationId: Int32
    public var protocolName: String
    public var leaderId: String
    public var members: [Member]

    init(protocolType: String, generationId: Int32, protocolName: String, leaderId: String, members: [Member]) {
        self.protocolType = protocolType
        self.generationId = generationId
        self.protocolName = protocolName
        self.leaderId = leaderId
        self.members = members
    }

    init?(_ bytes: [UInt8]) {
        var reader = ByteReader(bytes)
        guard let type = reader.readString(), let generation: Int32 = reader.read(), let name = reader.readString(),
              let leader = reader.readString(), let count: Int32 = reader.read(), count >= 0, Int(count) <= bytes.count
        else { return nil }
        var members: [Member] = []
        for _ in 0..<count {
            guard let id = reader.readString(), let instance = reader.readString(), let client = reader.readString(),
                  let host = reader.readString(), let session: Int32 = reader.read(), let rebalance: Int32 = reader.read(),
                  let subscription = reader.readBytes(), let assignment = reader.readBytes()
            else { return nil }
            members.append(Member(
                memberId: id, groupInstanceId: instance.isEmpty ? nil : instance, clientId: client, clientHost: host,
                sessionTimeoutMs: session, rebalanceTimeoutMs: rebalance, subscription: subscription, assignment: assignment))
        }
        self.init(protocolType: type, generationId: generation, protocolName: name, leaderId: leader, members: members)
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

    mutating func write(_ data: [UInt8]) {
        write(Int32(data.count))
        bytes.append(contentsOf: data)
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

    mutating func readBytes() -> [UInt8]? {
        guard let length: Int32 = read(), length >= 0, bytes.count - position >= Int(length) else { return nil }
        defer { position += Int(length) }
        return Array(bytes[position..<(position + Int(length))])
    }

    mutating func readString() -> String? {
        guard let length: Int32 = read(), length >= 0, bytes.count - position >= Int(length) else { return nil }
        defer { position += Int(length) }
        return String(decoding: bytes[position..<(position + Int(length))], as: UTF8.self)
    }
}
