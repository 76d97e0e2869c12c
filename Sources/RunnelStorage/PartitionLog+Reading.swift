import RunnelProtocol

extension PartitionLog {
    /// Whole batches from the one holding `offset`, as a file slice for sendfile.
    ///
    /// At least one whole batch is returned even if it is larger than `maxBytes` (KIP-74), so a
    /// consumer always makes progress; more follow while they fit. Only batches starting below
    /// `upTo` (the high watermark, for consumers) are served. Returns nil at the end of the log.
    /// An offset below the log start or above the log end throws `offsetOutOfRange`.
    /// `minimumOneBatch` false returns nil rather than a first batch larger than `maxBytes` (for
    /// the partitions after the first in a fetch response, which KIP-74 does not let overflow).
    ///
    /// The lock covers only the bookkeeping (offsets, which segment, its index entries); the
    /// batch headers are read from the file after it is released, so a read that waits for the
    /// disk never holds up this partition's appends. With `mode` `.cachedOnly` a read that would
    /// wait for the disk throws `wouldBlock` instead (see `read(from:maxBytes:upTo:minimumOneBatch:offloadingTo:)`).
    public func read(
        from offset: Int64, maxBytes: Int, upTo: Int64? = nil, minimumOneBatch: Bool = true, mode: FileReadMode = .blocking
    ) throws(StorageError) -> FileSlice? {
        let planned: (view: SegmentReadView, segment: LogSegment, end: Int64)? = try state.withLock { state throws(StorageError) in
            // Nothing of an offline directory is served: its files are what recovery will judge.
            try checkAvailable(state, closedIsFine: true)
            guard offset >= state.logStartOffset, offset <= state.logEndOffset else {
                throw StorageError(
                    .offsetOutOfRange, "offset \(offset) is outside [\(state.logStartOffset), \(state.logEndOffset)] of \(topicPartition)")
            }
            let end = min(upTo ?? state.logEndOffset, state.logEndOffset)
            guard offset < end else { return nil }
            // The segment holding `offset`, or the next one holding anything if that segment
            // ends before it: only its last batch's end is needed, which is in memory.
            let index = Self.segmentIndex(holding: offset, in: state.segments)
            guard let segment = state.segments[index...].first(where: { $0.size > 0 && $0.nextOffset > offset }) else { return nil }
            return (try SegmentReadView(of: segment, offset: offset, maxBytes: maxBytes, mode: mode), segment, end)
        }
        guard let planned else { return nil }
        let outcome = try planned.view.read(
            from: offset, maxBytes: maxBytes, endOffset: planned.end, minimumOneBatch: minimumOneBatch, mode: mode)
        if !outcome.indexMatched {
            // A damaged index entry: the slice is right (the walk did without it), and the
            // segment's own lookup rebuilds its indexes from the log. That reads the whole
            // segment, so never on an event loop.
            guard mode == .blocking else {
                throw StorageError(.wouldBlock, "\(planned.segment.logPath): the offset index is rebuilt")
            }
            // Best effort: the answer stands even if the rebuild fails or the segment is gone.
            state.withLock { state in
                guard state.segments.contains(where: { $0 === planned.segment }) else { return }
                _ = try? planned.segment.position(of: offset)
            }
        }
        return outcome.slice
    }

    /// The first record whose timestamp is at or after `timestamp` (ListOffsets by time, replay
    /// by time), with that timestamp, or nil when every record is older.
    public func offset(forTimestamp timestamp: Int64) throws(StorageError) -> TimestampAndOffset? {
        try state.withLock { state throws(StorageError) in
            // Segments are in offset order; the first whose newest record is recent enough holds it.
            for segment in state.segments where segment.maxTimestamp >= timestamp {
                if var found = try segment.offset(forTimestamp: timestamp) {
                    found.offset = max(found.offset, state.logStartOffset)
                    return found
                }
            }
            return nil
        }
    }

    /// The largest timestamp in the log and the offset of the first record carrying it
    /// (ListOffsets' MAX_TIMESTAMP; since KAFKA-16310 the record's offset, not its batch's).
    public func maxTimestampAndOffset() throws(StorageError) -> TimestampAndOffset? {
        try state.withLock { state throws(StorageError) in
            guard let best = state.segments.max(by: { $0.maxTimestamp < $1.maxTimestamp }), best.maxTimestamp >= 0 else { return nil }
            // The segment knows the batch that first reached its maximum; the record is in it.
            return try best.offset(forTimestamp: best.maxTimestamp)
                ?? TimestampAndOffset(timestamp: best.maxTimestamp, offset: best.offsetOfMaxTimestamp)
        }
    }
}

/// A record's timestamp and offset, the answer of a lookup by time.
public struct TimestampAndOffset: Sendable, Equatable {
    public var timestamp: Int64
    public var offset: Int64

    public init(timestamp: Int64, offset: Int64) {
        self.timestamp = timestamp
        self.offset = offset
    }
}

extension PartitionLog {

    /// The epoch in force at the log end and where each epoch started (for replication).
    public var latestLeaderEpoch: Int32? { state.withLock { $0.leaderEpochs.latestEpoch } }

    public func endOffset(forLeaderEpoch epoch: Int32) -> (epoch: Int32, endOffset: Int64)? {
        state.withLock { $0.leaderEpochs.endOffset(of: epoch, logEndOffset: $0.logEndOffset) }
    }

    /// Binary search over base offsets: the last segment starting at or below `offset`.
    static func segmentIndex(holding offset: Int64, in segments: [LogSegment]) -> Int {
        var low = 0
        var high = segments.count
        while low < high {
            let middle = (low + high) / 2
            if segments[middle].baseOffset <= offset { low = middle + 1 } else { high = middle }
        }
        return max(0, low - 1)
    }
}
