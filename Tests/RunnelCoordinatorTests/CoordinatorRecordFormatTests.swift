import Testing
@testable import RunnelCoordinator

/// `__consumer_offsets` records are Kafka's own (OffsetCommitKey / OffsetCommitValue v3,
/// GroupMetadataKey / GroupMetadataValue v3), byte for byte; Runnel's older records still decode.
@Suite struct CoordinatorRecordFormatTests {
    static func string16(_ text: String) -> [UInt8] { [UInt8(text.utf8.count >> 8), UInt8(text.utf8.count & 0xff)] + Array(text.utf8) }
    static func string32(_ text: String) -> [UInt8] { [0, 0] + string16(text) }
    static func int<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }

    let commit = CoordinatorRecord.offsetCommit(
        groupId: "billing", partition: GroupTopicPartition(topic: "orders", partition: 3),
        value: OffsetAndMetadata(offset: 4242, leaderEpoch: 7, metadata: "m", commitTimestamp: 1_700_000_000_000))

    @Test func anOffsetCommitIsKafkasOffsetCommitKeyAndValueVersion3() {
        #expect(commit.key == Self.int(Int16(1)) + Self.string16("billing") + Self.string16("orders") + Self.int(Int32(3)))
        #expect(commit.value == Self.int(Int16(3)) + Self.int(Int64(4242)) + Self.int(Int32(7)) + Self.string16("m")
            + Self.int(Int64(1_700_000_000_000)))
        #expect(CoordinatorRecord.decode(key: commit.key, value: commit.value) == .init(record: commit, isLegacy: false))
        // Kafka's version 1 value (with an expire timestamp) and version 0 (no leader epoch) decode too.
        let version1 = Self.int(Int16(1)) + Self.int(Int64(5)) + Self.string16("") + Self.int(Int64(9)) + Self.int(Int64(-1))
        guard case .offsetCommit(_, _, let value)? = CoordinatorRecord(key: commit.key, value: version1) else {
            Issue.record("version 1 did not decode")
            return
        }
        #expect(value == OffsetAndMetadata(offset: 5, leaderEpoch: -1, metadata: "", commitTimestamp: 9))
    }

    @Test func aGroupIsKafkasGroupMetadataKeyAndValueVersion3() {
        let member = GroupMetadataValue.Member(
            memberId: "m-1", groupInstanceId: nil, clientId: "c", clientHost: "/127.0.0.1", sessionTimeoutMs: 45_000,
            rebalanceTimeoutMs: 300_000, subscription: [1, 2], assignment: [3])
        let group = CoordinatorRecord.groupMetadata(
            groupId: "billing", value: GroupMetadataValue(protocolType: "consumer", generationId: 4, protocolName: "range", leaderId: "m-1", members: [member]))
        #expect(group.key == Self.int(Int16(2)) + Self.string16("billing"))
        let expected = Self.int(Int16(3)) + Self.string16("consumer") + Self.int(Int32(4)) + Self.string16("range") + Self.string16("m-1")
            + Self.int(Int64(-1)) + Self.int(Int32(1))
            + Self.string16("m-1") + Self.int(Int16(-1)) + Self.string16("c") + Self.string16("/127.0.0.1")
            + Self.int(Int32(300_000)) + Self.int(Int32(45_000)) + Self.int(Int32(2)) + [1, 2] + Self.int(Int32(1)) + [3]
        #expect(group.value == expected)
        #expect(CoordinatorRecord.decode(key: group.key, value: group.value) == .init(record: group, isLegacy: false))
        let tombstone = CoordinatorRecord.groupMetadata(groupId: "billing", value: nil)
        #expect(CoordinatorRecord(key: tombstone.key, value: nil) == tombstone)
    }

    @Test func runnelsOlderRecordsStillDecodeAndSayTheyAreOlder() {
        let legacyKey = Self.int(Int16(1)) + Self.string32("billing") + Self.string32("orders") + Self.int(Int32(3))
        let legacyValue = Self.int(Int64(4242)) + Self.int(Int32(7)) + Self.string32("m") + Self.int(Int64(1_700_000_000_000))
        #expect(CoordinatorRecord.decode(key: legacyKey, value: legacyValue) == .init(record: commit, isLegacy: true))
        #expect(CoordinatorRecord.decode(key: legacyKey, value: nil)?.isLegacy == true)
        let legacyGroupKey = Self.int(Int16(2)) + Self.string32("billing")
        let legacyGroupValue = Self.string32("consumer") + Self.int(Int32(4)) + Self.string32("range") + Self.string32("m-1") + Self.int(Int32(1))
            + Self.string32("m-1") + Self.string32("") + Self.string32("c") + Self.string32("h") + Self.int(Int32(10)) + Self.int(Int32(20))
            + Self.int(Int32(0)) + Self.int(Int32(0))
        guard let decoded = CoordinatorRecord.decode(key: legacyGroupKey, value: legacyGroupValue),
              case .groupMetadata("billing", let value?) = decoded.record
        else {
            Issue.record("the legacy group did not decode")
            return
        }
        #expect(decoded.isLegacy && value.generationId == 4 && value.members[0].sessionTimeoutMs == 10 && value.members[0].rebalanceTimeoutMs == 20)
        // Bytes that are neither format are not records.
        #expect(CoordinatorRecord.decode(key: [0, 9, 0, 0], value: nil) == nil)
        #expect(CoordinatorRecord.decode(key: commit.key + [0], value: nil) == nil)
    }
}
