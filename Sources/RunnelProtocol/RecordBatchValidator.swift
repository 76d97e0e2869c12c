import NIOCore

/// What a producer's batch must satisfy beyond its header and CRC, as Kafka's LogValidator
/// (`validateBatch`, and the record iterators of DefaultRecordBatch it drives) checks it. A batch
/// that passes can be read back record by record by any consumer; one that fails is refused
/// whole, with the index of the record at fault where there is one.
///
/// Both checks are pure functions of the batch (and the limits), so a fuzzer can drive them
/// directly: `RecordBatch(validating:)`, then `validateAsProduced()`, then `validateRecords(limits:)`.
extension RecordBatch {
    /// The header rules for a batch a client produced: at least one record, offsets
    /// 0...lastOffsetDelta one per record, no control batch (only the broker writes transaction
    /// markers), a transactional batch carries a producer id, and a producer id comes with a
    /// sequence (Kafka: INVALID_RECORD for each of these).
    public func validateAsProduced() throws(RecordBatchError) {
        guard header.recordsCount > 0 else {
            throw RecordBatchError(.invalidRecordCount, "a produced batch must hold at least one record")
        }
        guard Int64(header.lastOffsetDelta) + 1 == Int64(header.recordsCount) else {
            throw RecordBatchError(
                .invalidRecordCount, "lastOffsetDelta \(header.lastOffsetDelta) disagrees with recordsCount \(header.recordsCount)")
        }
        guard !header.attributes.isControl else {
            throw RecordBatchError(.controlBatchFromClient, "clients may not write control batches")
        }
        if header.attributes.isTransactional, header.producerId < 0 {
            throw RecordBatchError(.invalidProducerFields, "a transactional batch needs a producer id, it has \(header.producerId)")
        }
        if header.producerId >= 0, header.baseSequence < 0 {
            throw RecordBatchError(
                .invalidProducerFields, "sequence \(header.baseSequence) is invalid for producer id \(header.producerId)")
        }
    }

    /// Checks every record of the batch, decompressing it within `limits`: exactly
    /// `recordsCount` well-formed records (see `RecordSectionWalker`), filling the records section
    /// to its last byte, with offset deltas 0, 1, 2... in order and timestamps that fit in 64
    /// bits. Nothing is allocated per record; a compressed batch costs one bounded decompression.
    /// With `requireKeys` (a compacted topic) every record must have a key (Kafka's
    /// `LogValidator.validateKey`).
    public func validateRecords(limits: RecordBatchLimits, requireKeys: Bool = false) throws(RecordBatchError) -> ValidatedRecords {
        let count = Int(header.recordsCount)
        // Checked before decompressing anything: an honest header of a bomb is refused for free.
        guard count <= limits.maxRecordsPerBatch else {
            throw RecordBatchError(.tooManyRecords, "\(count) records exceed the limit of \(limits.maxRecordsPerBatch) per batch")
        }
        let section = try recordsSection(maxDecompressedBytes: limits.maxDecompressedBytes)
        let baseTimestamp = header.baseTimestamp
        let walked: Result<Int64, RecordBatchError> = section.withUnsafeReadableBytes { raw in
            Result { () throws(RecordBatchError) -> Int64 in
                var walker = RecordSectionWalker(raw)
                var maxTimestamp: Int64 = -1
                var keyless: [Int] = []
                for expected in 0..<count {
                    guard let record = try walker.next() else {
                        throw RecordBatchError(.invalidRecordCount, "the records section holds \(expected) records, recordsCount says \(count)")
                    }
                    guard Int(record.offsetDelta) == expected else {
                        throw RecordBatchError(
                            .invalidOffsetDelta, "offset delta \(record.offsetDelta) where \(expected) was expected", recordIndex: expected)
                    }
                    if requireKeys, record.key == nil { keyless.append(expected) }
                    let (timestamp, overflow) = baseTimestamp.addingReportingOverflow(record.timestampDelta)
                    guard !overflow else {
                        throw RecordBatchError(
                            .invalidTimestamp, "timestamp delta \(record.timestampDelta) overflows base timestamp \(baseTimestamp)",
                            recordIndex: expected)
                    }
                    maxTimestamp = max(maxTimestamp, timestamp)
                }
                guard walker.isAtEnd else {
                    throw RecordBatchError(
                        .invalidRecordCount, "\(raw.count - walker.position) bytes follow the last of \(count) records")
                }
                guard keyless.isEmpty else {
                    throw RecordBatchError(.missingKey, "a compacted topic cannot accept a record without a key", recordIndexes: keyless)
                }
                return maxTimestamp
            }
        }
        return ValidatedRecords(section: section, count: count, maxTimestamp: try walked.get())
    }
}

/// The outcome of `RecordBatch.validateRecords(limits:)`.
public struct ValidatedRecords: Sendable {
    /// The records section that was checked, decompressed if the batch is compressed: a rewrite
    /// (recompression) starts from it instead of decompressing again.
    public let section: ByteBuffer
    public let count: Int
    /// The largest record timestamp, which the header's maxTimestamp must carry for the time
    /// index to find the records (-1 when no record has a timestamp).
    public let maxTimestamp: Int64
}
