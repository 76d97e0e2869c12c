/// The records the group coordinator writes to `__consumer_offsets` and replays at load, in
/// Kafka's own format, so tools that read the topic directly (lag checkers, the console
/// consumer's offsets formatter) understand it:
///
/// - offset commit: key `OffsetCommitKey` (int16 record type 1, group, topic, partition), value
///   `OffsetCommitValue` version 3 (offset, leader epoch, metadata, commit timestamp);
/// - classic group: key `GroupMetadataKey` (type 2, group), value `GroupMetadataValue` version 3.
///
/// Strings are int16-length UTF-8, bytes int32-length, all big-endian (Kafka's non-flexible
/// encoding). A null value (tombstone) removes the key (OffsetDelete, DeleteGroups, expiry);
/// the topic is compacted, so only each key's last record stays. Encoded by hand: the
/// coordinator is pure and imports no byte-buffer library.
///
/// Before this format Runnel wrote its own (int32-length strings, no value version); such
/// records still decode (`Decoded.isLegacy`, see CoordinatorRecord+Legacy) so older data
/// directories load, and the broker rewrites them in this format.
public enum CoordinatorRecord: Sendable, Equatable {
    case offsetCommit(groupId: String, partition: GroupTopicPartition, value: OffsetAndMetadata?)
    /// A classic group's generation, protocol, leader and members, written when a rebalance
    /// completes or the group empties, so that members keep their generation across a restart.
    case groupMetadata(groupId: String, value: GroupMetadataValue?)

    static let offsetCommitType: Int16 = 1
    static let groupMetadataType: Int16 = 2
    static let offsetCommitValueVersion: Int16 = 3
    static let groupMetadataValueVersion: Int16 = 3

    public var key: [UInt8] {
        var writer = ByteWriter()
        switch self {
        case .offsetCommit(let groupId, let partition, _):
            writer.write(Self.offsetCommitType)
            writer.writeKafkaString(groupId)
            writer.writeKafkaString(partition.topic)
            writer.write(partition.partition)
        case .groupMetadata(let groupId, _):
            writer.write(Self.groupMetadataType)
            writer.writeKafkaString(groupId)
        }
        return writer.bytes
    }

    public var value: [UInt8]? {
        var writer = ByteWriter()
        switch self {
        case .offsetCommit(_, _, let value):
            guard let value else { return nil }
            writer.write(Self.offsetCommitValueVersion)
            writer.write(value.offset)
            writer.write(value.leaderEpoch)
            writer.writeKafkaString(value.metadata ?? "")
            writer.write(value.commitTimestamp)
        case .groupMetadata(_, let value):
            guard let value else { return nil }
            writer.write(Self.groupMetadataValueVersion)
            writer.writeKafkaString(value.protocolType)
            writer.write(value.generationId)
            writer.writeKafkaString(value.protocolName)
            writer.writeKafkaString(value.leaderId)
            writer.write(Int64(-1))  // currentStateTimestamp: not kept (Kafka's default)
            writer.write(Int32(value.members.count))
            for member in value.members {
                writer.writeKafkaString(member.memberId)
                writer.writeNullableKafkaString(member.groupInstanceId)
                writer.writeKafkaString(member.clientId)
                writer.writeKafkaString(member.clientHost)
                writer.write(member.rebalanceTimeoutMs)
                writer.write(member.sessionTimeoutMs)
                writer.write(member.subscription)
                writer.write(member.assignment)
            }
        }
        return writer.bytes
    }

    /// A stored record and which format it was in.
    public struct Decoded: Sendable, Equatable {
        public var record: CoordinatorRecord
        /// Written in Runnel's format from before `__consumer_offsets` used Kafka's.
        public var isLegacy: Bool
    }

    /// Decodes a stored record; nil for a record of a type or version this broker does not know.
    /// The key tells the format: a Kafka key never reads as a whole legacy one and the reverse
    /// (their string lengths are 2 and 4 bytes), and the value is in the key's format.
    public static func decode(key: [UInt8], value: [UInt8]?) -> Decoded? {
        if let record = decodeKafka(key: key, value: value) { return Decoded(record: record, isLegacy: false) }
        if let record = decodeLegacy(key: key, value: value) { return Decoded(record: record, isLegacy: true) }
        return nil
    }

    public init?(key: [UInt8], value: [UInt8]?) {
        guard let decoded = Self.decode(key: key, value: value) else { return nil }
        self = decoded.record
    }

    private static func decodeKafka(key: [UInt8], value: [UInt8]?) -> CoordinatorRecord? {
        var reader = ByteReader(key)
        guard let type: Int16 = reader.read(), let groupId = reader.readKafkaString() else { return nil }
        switch type {
        // Key versions 0 and 1 are both offset commits (Kafka's OffsetCommitKey).
        case 0, Self.offsetCommitType:
            guard let topic = reader.readKafkaString(), let partition: Int32 = reader.read(), reader.isAtEnd else { return nil }
            let partitionKey = GroupTopicPartition(topic: topic, partition: partition)
            guard let value else { return .offsetCommit(groupId: groupId, partition: partitionKey, value: nil) }
            guard let offset = OffsetAndMetadata(kafkaValue: value) else { return nil }
            return .offsetCommit(groupId: groupId, partition: partitionKey, value: offset)
        case Self.groupMetadataType:
            guard reader.isAtEnd else { return nil }
            guard let value else { return .groupMetadata(groupId: groupId, value: nil) }
            guard let decoded = GroupMetadataValue(kafkaValue: value) else { return nil }
            return .groupMetadata(groupId: groupId, value: decoded)
        default:
            return nil
        }
    }
}

extension OffsetAndMetadata {
    /// `OffsetCommitValue` versions 0-3 (Kafka's non-flexible ones).
    init?(kafkaValue bytes: [UInt8]) {
        var reader = ByteReader(bytes)
        guard let version: Int16 = reader.read(), (0...3).contains(version), let offset: Int64 = reader.read() else { return nil }
        var epoch: Int32 = -1
        if version >= 3 {
            guard let read: Int32 = reader.read() else { return nil }
            epoch = read
        }
        guard let metadata = reader.readKafkaString(), let timestamp: Int64 = reader.read() else { return nil }
        if version == 1 { guard let _: Int64 = reader.read() else { return nil } }  // expireTimestamp
        guard reader.isAtEnd else { return nil }
        self.init(offset: offset, leaderEpoch: epoch, metadata: metadata, commitTimestamp: timestamp)
    }
}

extension GroupMetadataValue {
    /// `GroupMetadataValue` versions 0-3 (Kafka's non-flexible ones).
    init?(kafkaValue bytes: [UInt8]) {
        var reader = ByteReader(bytes)
        guard let version: Int16 = reader.read(), (0...3).contains(version), let type = reader.readKafkaString(),
              let generation: Int32 = reader.read(), let name = reader.readNullableKafkaString(),
              let leader = reader.readNullableKafkaString()
        else { return nil }
        if version >= 2 { guard let _: Int64 = reader.read() else { return nil } }  // currentStateTimestamp
        guard let count: Int32 = reader.read(), count >= 0, Int(count) <= bytes.count else { return nil }
        var members: [Member] = []
        for _ in 0..<count {
            guard let id = reader.readKafkaString() else { return nil }
            var instance: String?? = .some(nil)
            if version >= 3 { instance = reader.readNullableKafkaString() }
            guard let instance, let client = reader.readKafkaString(), let host = reader.readKafkaString() else { return nil }
            var rebalance: Int32?
            if version >= 1 {
                guard let read: Int32 = reader.read() else { return nil }
                rebalance = read
            }
            guard let session: Int32 = reader.read() else { return nil }
            guard let subscription = reader.readBytes(), let assignment = reader.readBytes() else { return nil }
            members.append(Member(
                memberId: id, groupInstanceId: instance, clientId: client, clientHost: host, sessionTimeoutMs: session,
                rebalanceTimeoutMs: rebalance ?? session, subscription: subscription, assignment: assignment))
        }
        guard reader.isAtEnd else { return nil }
        self.init(protocolType: type, generationId: generation, protocolName: name ?? "", leaderId: leader ?? "", members: members)
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
}
