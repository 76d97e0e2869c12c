import NIOCore
import RunnelCodecs

/// A record of a batch as the log cleaner decides on it. `key` points into the batch's records
/// section: use it only inside the closure it is passed to.
public struct FilterableRecord {
    public let offset: Int64
    public let timestamp: Int64
    /// Nil for a null key.
    public let key: UnsafeRawBufferPointer?
    /// A null value: a delete marker for its key.
    public let isTombstone: Bool
}

/// Rebuilding a batch with a subset of its records, for log compaction (Kafka's
/// `MemoryRecords.filterTo`). Pure: no files, no clock.
///
/// A rebuilt batch keeps what identifies it: base offset and last offset delta (so its offset
/// range, hence the segment's, does not change), partition leader epoch, producer id, epoch and
/// base sequence, codec, timestamp type and the transactional and control bits. Kept records
/// are copied byte for byte (their offset and timestamp deltas are relative to the unchanged
/// base), except when a delete horizon is set (KIP-534): then the base timestamp becomes the
/// horizon and each record's timestamp delta is rewritten so its timestamp stays the same.
extension RecordBatch {
    public enum FilterResult: Sendable {
        /// Every record kept and nothing to change: the batch's own bytes are what to write.
        case unchanged
        /// No record kept, and the batch itself need not stay.
        case dropped
        /// A new batch holding `retainedRecords` of the original's records (0: Kafka's empty
        /// batch, which keeps the offsets and the producer state of the original).
        case rebuilt(ByteBuffer, retainedRecords: Int)
    }

    /// The delete horizon of a batch whose tombstones a cleaner has already kept once: after it,
    /// they may go (KIP-534). Nil when the batch has none.
    public var deleteHorizonMs: Int64? { header.attributes.hasDeleteHorizon ? header.baseTimestamp : nil }

    /// Calls `body` with each record, in order.
    public func forEachRecord(limits: RecordBatchLimits, _ body: (FilterableRecord) throws -> Void) throws {
        let section = try recordsSection(maxDecompressedBytes: limits.maxDecompressedBytes)
        try section.withUnsafeReadableBytes { raw in
            var walker = RecordSectionWalker(raw)
            var count = 0
            while let walked = try walker.next() {
                count += 1
                try body(record(walked, in: raw))
            }
            try checkCount(count)
        }
    }

    /// The batch with only the records `keep` accepts.
    ///
    /// - `keepEmpty`: whether a batch left with no record stays as an empty batch (the last
    ///   batch of a producer, whose sequence and epoch must survive) or is dropped.
    /// - `deleteHorizonMs`: the horizon to stamp on a batch that keeps a tombstone and has no
    ///   horizon yet (nil: none is set).
    public func filtered(
        limits: RecordBatchLimits, keepEmpty: Bool, deleteHorizonMs newHorizon: Int64?, keep: (FilterableRecord) throws -> Bool
    ) throws -> FilterResult {
        let section = try recordsSection(maxDecompressedBytes: limits.maxDecompressedBytes)
        var kept: [(walked: WalkedRecord, timestamp: Int64)] = []
        var keptTombstone = false
        var count = 0
        try section.withUnsafeReadableBytes { raw in
            var walker = RecordSectionWalker(raw)
            while let walked = try walker.next() {
                count += 1
                let record = record(walked, in: raw)
                if try keep(record) {
                    kept.append((walked, record.timestamp))
                    keptTombstone = keptTombstone || record.isTombstone
                }
            }
            try checkCount(count)
        }
        let horizon = keptTombstone && deleteHorizonMs == nil ? newHorizon : nil
        // An already empty batch stays only while it must (Kafka's DELETE_EMPTY).
        if count == 0 { return keepEmpty ? .unchanged : .dropped }
        if kept.count == count && horizon == nil { return .unchanged }
        if kept.isEmpty { return keepEmpty ? .rebuilt(emptyBatch(), retainedRecords: 0) : .dropped }

        var records = ByteBufferAllocator().buffer(capacity: section.readableBytes)
        section.withUnsafeReadableBytes { raw in
            for (walked, timestamp) in kept {
                guard let horizon else {
                    records.writeBytes(UnsafeRawBufferPointer(rebasing: raw[walked.range]))
                    continue
                }
                // attributes + new timestamp delta + everything from the offset delta on.
                var head = ByteBufferAllocator().buffer(capacity: 12)
                head.writeInteger(UInt8(0))
                head.writeVarlong(timestamp &- horizon)
                let tail = UnsafeRawBufferPointer(rebasing: raw[walked.offsetDeltaStart..<walked.range.upperBound])
                let length = head.readableBytes + tail.count
                records.writeVarint(Int32(length))
                records.writeBuffer(&head)
                records.writeBytes(tail)
            }
        }
        var output = ByteBufferAllocator().buffer(capacity: RecordBatchHeader.size + records.readableBytes)
        output.writeBytes(bytes.readableBytesView.prefix(RecordBatchHeader.size))
        if compression == .none {
            output.writeBuffer(&records)
        } else {
            let compressed = try records.withUnsafeReadableBytes { try Compression.compress($0, codec: compression) }
            output.writeBytes(compressed)
        }
        var attributes = header.attributes
        if let horizon {
            attributes.rawValue |= RecordBatchAttributes.deleteHorizonBit
            output.setInteger(horizon, at: RecordBatchHeader.Offset.baseTimestamp, endianness: .big)
        }
        if attributes.timestampType == .createTime {
            output.setInteger(kept.map(\.timestamp).max()!, at: RecordBatchHeader.Offset.maxTimestamp, endianness: .big)
        }
        output.setInteger(attributes.rawValue, at: RecordBatchHeader.Offset.attributes, endianness: .big)
        output.setInteger(Int32(kept.count), at: RecordBatchHeader.Offset.recordsCount, endianness: .big)
        output.setInteger(Int32(output.readableBytes - RecordBatchHeader.logOverhead), at: RecordBatchHeader.Offset.batchLength, endianness: .big)
        output.stampRecordBatchChecksum()
        return .rebuilt(output, retainedRecords: kept.count)
    }

    /// Kafka's empty batch (`DefaultRecordBatch.writeEmptyHeader`): the original's offsets,
    /// leader epoch, producer fields and max timestamp, no records, no compression, base
    /// timestamp -1.
    private func emptyBatch() -> ByteBuffer {
        var output = ByteBufferAllocator().buffer(capacity: RecordBatchHeader.size)
        output.writeBytes(bytes.readableBytesView.prefix(RecordBatchHeader.size))
        var attributes = header.attributes
        attributes.rawValue &= ~(RecordBatchAttributes.codecMask | RecordBatchAttributes.deleteHorizonBit)
        output.setInteger(attributes.rawValue, at: RecordBatchHeader.Offset.attributes, endianness: .big)
        output.setInteger(Int64(-1), at: RecordBatchHeader.Offset.baseTimestamp, endianness: .big)
        output.setInteger(Int32(0), at: RecordBatchHeader.Offset.recordsCount, endianness: .big)
        output.setInteger(Int32(RecordBatchHeader.size - RecordBatchHeader.logOverhead), at: RecordBatchHeader.Offset.batchLength, endianness: .big)
        output.stampRecordBatchChecksum()
        return output
    }

    private func record(_ walked: WalkedRecord, in raw: UnsafeRawBufferPointer) -> FilterableRecord {
        let timestamp = header.attributes.timestampType == .logAppendTime ? header.maxTimestamp : header.baseTimestamp &+ walked.timestampDelta
        return FilterableRecord(
            offset: header.baseOffset + Int64(walked.offsetDelta), timestamp: timestamp,
            key: walked.key.map { UnsafeRawBufferPointer(rebasing: raw[$0]) }, isTombstone: walked.valueIsNull)
    }

    private func checkCount(_ count: Int) throws(RecordBatchError) {
        guard count == Int(header.recordsCount) else {
            throw RecordBatchError(.invalidRecordCount, "the batch declares \(header.recordsCount) records and holds \(count)")
        }
    }
}
