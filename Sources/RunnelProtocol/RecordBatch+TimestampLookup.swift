import NIOCore

extension RecordBatch {
    /// The first record whose timestamp is at or after `timestamp`: its offset and timestamp, or
    /// nil when every record is older.
    ///
    /// Reads only the timestamp and offset of each record, in place: nothing is allocated per
    /// record, so a batch of millions of small records costs one pass over its bytes. `limits`
    /// defaults to what any topic configuration could have accepted (`RecordBatchLimits.readable`).
    public func firstRecord(
        atOrAfter timestamp: Int64, limits: RecordBatchLimits = .readable
    ) throws(RecordBatchError) -> (offset: Int64, timestamp: Int64)? {
        guard header.maxTimestamp >= timestamp else { return nil }
        // LogAppendTime: every record carries the batch's timestamp.
        if header.attributes.timestampType == .logAppendTime { return (header.baseOffset, header.maxTimestamp) }
        let section = try recordsSection(maxDecompressedBytes: limits.maxDecompressedBytes)
        let count = Int(header.recordsCount)
        let header = header
        let found: Result<(offset: Int64, timestamp: Int64)?, RecordBatchError> = section.withUnsafeReadableBytes { raw in
            Result { () throws(RecordBatchError) -> (offset: Int64, timestamp: Int64)? in
                var walker = RecordSectionWalker(raw)
                for _ in 0..<count {
                    guard let record = try walker.next() else { return nil }
                    let recordTimestamp = header.baseTimestamp &+ record.timestampDelta
                    if recordTimestamp >= timestamp { return (header.baseOffset &+ Int64(record.offsetDelta), recordTimestamp) }
                }
                return nil
            }
        }
        return try found.get()
    }
}
