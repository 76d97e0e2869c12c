import NIOCore
import RunnelCodecs
import Testing
@testable import RunnelProtocol

/// The log cleaner's batch rebuild: kept records unchanged, the batch's identity kept, every
/// codec, tombstone horizons (KIP-534) and Kafka's empty batch.
@Suite struct RecordBatchFilterTests {
    static let limits = RecordBatchLimits(maxMessageBytes: 1 << 20)

    /// Six records at offsets 100...105 (keys k0...k5, k3's value null), from an idempotent
    /// producer, as a leader of epoch 7 stored them.
    static func batch(codec: CompressionCodec, timestampType: TimestampType = .createTime) throws -> RecordBatch {
        var builder = RecordBatchBuilder(compression: codec)
        builder.baseOffset = 100
        builder.partitionLeaderEpoch = 7
        builder.producerId = 4242
        builder.producerEpoch = 3
        builder.baseSequence = 17
        builder.timestampType = timestampType
        for index in 0..<6 {
            let value: [UInt8]? = index == 3 ? nil : Array("value-\(index)-".utf8) + Array(repeating: UInt8(index), count: 40)
            builder.append(
                key: Array("k\(index)".utf8), value: value,
                headers: [RecordHeader(key: "h", value: ByteBuffer(string: "\(index)")), RecordHeader(key: "h", value: nil)],
                timestamp: 1_000 + Int64(index) * 10)
        }
        return try RecordBatch(validating: builder.build())
    }

    static func key(_ record: FilterableRecord) -> String { String(decoding: record.key!, as: UTF8.self) }

    @Test(arguments: [CompressionCodec.none, .gzip, .snappy, .lz4, .zstd])
    func keptRecordsAndTheBatchIdentityStayTheSame(codec: CompressionCodec) throws {
        let original = try Self.batch(codec: codec)
        let result = try original.filtered(limits: Self.limits, keepEmpty: false, deleteHorizonMs: nil) { $0.offset % 2 == 1 }
        guard case .rebuilt(let bytes, let retained) = result else { Issue.record("expected a rebuilt batch, got \(result)"); return }
        #expect(retained == 3)
        let rebuilt = try RecordBatch(validating: bytes)
        #expect(rebuilt.header.baseOffset == 100)
        #expect(rebuilt.header.lastOffsetDelta == 5, "the batch still ends at offset 105")
        #expect(rebuilt.header.partitionLeaderEpoch == 7)
        #expect(rebuilt.header.producerId == 4242 && rebuilt.header.producerEpoch == 3 && rebuilt.header.baseSequence == 17)
        #expect(rebuilt.compression == codec)
        #expect(rebuilt.header.recordsCount == 3)
        #expect(rebuilt.header.maxTimestamp == 1_050)
        let expected = try original.records().filter { $0.offset % 2 == 1 }
        #expect(try rebuilt.records() == expected)
    }

    @Test func keepingEverythingChangesNothingAndKeepingNothingDropsOrEmptiesTheBatch() throws {
        let original = try Self.batch(codec: .lz4)
        guard case .unchanged = try original.filtered(limits: Self.limits, keepEmpty: false, deleteHorizonMs: nil, keep: { _ in true }) else {
            Issue.record("keeping every record must leave the batch as it is")
            return
        }
        guard case .dropped = try original.filtered(limits: Self.limits, keepEmpty: false, deleteHorizonMs: nil, keep: { _ in false }) else {
            Issue.record("a batch with nothing kept goes")
            return
        }
        let result = try original.filtered(limits: Self.limits, keepEmpty: true, deleteHorizonMs: nil) { _ in false }
        guard case .rebuilt(let bytes, 0) = result else { Issue.record("expected an empty batch, got \(result)"); return }
        // Kafka's empty batch: a bare header keeping offsets, epoch and producer state.
        #expect(bytes.readableBytes == RecordBatchHeader.size)
        let empty = try RecordBatch(validating: bytes)
        #expect(empty.header.baseOffset == 100 && empty.header.lastOffset == 105)
        #expect(empty.header.producerId == 4242 && empty.header.lastSequence == 22)
        #expect(empty.header.recordsCount == 0 && empty.compression == .none && empty.header.baseTimestamp == -1)
        #expect(empty.header.maxTimestamp == original.header.maxTimestamp)
        #expect(try empty.records().isEmpty)
    }

    @Test(arguments: [CompressionCodec.none, .zstd])
    func aKeptTombstoneGetsADeleteHorizonOnceAndTimestampsStay(codec: CompressionCodec) throws {
        let original = try Self.batch(codec: codec)
        // Keep k3 (the tombstone) and k4.
        let result = try original.filtered(limits: Self.limits, keepEmpty: false, deleteHorizonMs: 90_000) { [3, 4].contains($0.offset - 100) }
        guard case .rebuilt(let bytes, 2) = result else { Issue.record("expected a rebuilt batch, got \(result)"); return }
        let marked = try RecordBatch(validating: bytes)
        #expect(marked.deleteHorizonMs == 90_000)
        #expect(marked.header.baseTimestamp == 90_000)
        let records = try marked.records()
        #expect(records == (try original.records().filter { [103, 104].contains($0.offset) }))
        #expect(records.map(\.timestamp) == [1_030, 1_040])
        // A second clean keeps the horizon it has: nothing to change.
        guard case .unchanged = try marked.filtered(limits: Self.limits, keepEmpty: false, deleteHorizonMs: 200_000, keep: { _ in true }) else {
            Issue.record("the horizon is set once")
            return
        }
        // The cleaner sees what it decides on: offsets, keys, tombstones, timestamps.
        var seen: [(Int64, String, Bool, Int64)] = []
        try marked.forEachRecord(limits: Self.limits) { seen.append(($0.offset, Self.key($0), $0.isTombstone, $0.timestamp)) }
        #expect(seen.map(\.0) == [103, 104] && seen.map(\.1) == ["k3", "k4"] && seen.map(\.2) == [true, false])
        #expect(seen.map(\.3) == [1_030, 1_040])
    }

    @Test func noHorizonIsSetWithoutAKeptTombstoneOrOnLogAppendTime() throws {
        let original = try Self.batch(codec: .none, timestampType: .logAppendTime)
        let result = try original.filtered(limits: Self.limits, keepEmpty: false, deleteHorizonMs: 90_000) { $0.offset == 104 }
        guard case .rebuilt(let bytes, 1) = result else { Issue.record("expected a rebuilt batch, got \(result)"); return }
        let rebuilt = try RecordBatch(validating: bytes)
        #expect(rebuilt.deleteHorizonMs == nil)
        // LogAppendTime: every record carries the batch's max timestamp, which stays.
        #expect(rebuilt.header.maxTimestamp == original.header.maxTimestamp)
        #expect(try rebuilt.records().map(\.timestamp) == [original.header.maxTimestamp])
    }

    @Test func anEmptyBatchStaysOnlyWhileItMust() throws {
        guard case .rebuilt(let bytes, _) = try Self.batch(codec: .none).filtered(limits: Self.limits, keepEmpty: true, deleteHorizonMs: nil, keep: { _ in false })
        else { Issue.record("no empty batch"); return }
        let empty = try RecordBatch(validating: bytes)
        guard case .unchanged = try empty.filtered(limits: Self.limits, keepEmpty: true, deleteHorizonMs: nil, keep: { _ in true }) else {
            Issue.record("a needed empty batch was changed"); return
        }
        guard case .dropped = try empty.filtered(limits: Self.limits, keepEmpty: false, deleteHorizonMs: nil, keep: { _ in true }) else {
            Issue.record("an empty batch no longer needed was kept"); return
        }
    }

    @Test func aBatchThatLiesAboutItsRecordCountIsRefused() throws {
        var bytes = try Self.batch(codec: .none).bytes
        bytes.setInteger(Int32(7), at: bytes.readerIndex + RecordBatchHeader.Offset.recordsCount, endianness: .big)
        bytes.stampRecordBatchChecksum()
        let lying = try RecordBatch(validating: bytes)
        #expect(throws: RecordBatchError.self) { try lying.filtered(limits: Self.limits, keepEmpty: false, deleteHorizonMs: nil) { _ in true } }
        #expect(throws: RecordBatchError.self) { try lying.forEachRecord(limits: Self.limits) { _ in } }
    }
}
