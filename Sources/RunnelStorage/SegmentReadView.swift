import RunnelProtocol

/// What a fetch needs of one segment, copied under the partition's lock so that the file reads
/// can happen after it is released: a read that waits for the disk must not hold up the appends
/// to the partition (nor, on an event loop, anything else).
///
/// Immutable, hence safe on any thread. Its bytes stay valid without the lock because a
/// segment's `.log` file only grows past `size` (appends), and the `LogFile` it holds keeps the
/// descriptor open even if retention deletes the segment meanwhile. Only a truncation (a
/// follower cutting its diverged tail) shrinks a file under a reader; the slice then runs past
/// the new end, and the send fails as Kafka's does in the same race.
struct SegmentReadView: Sendable {
    /// The index entry a lookup starts from: a batch's position and the base offset it holds.
    struct IndexedPosition: Sendable, Equatable {
        var position: Int
        var offset: Int64
    }

    let log: LogFile
    let baseOffset: Int64
    /// Bytes of the `.log` file that belong to the log when the view was taken.
    let size: Int
    /// The last index entry at or below the wanted offset (nil: scan from the start).
    let start: IndexedPosition?
    /// The last index entry at or below `start + maxBytes` by position: the batches before it
    /// fit in the byte budget and are known whole, so the walk for the slice's end starts there.
    let budget: IndexedPosition?

    /// Takes the view of `segment` for a read from `offset` of at most `maxBytes` (only under
    /// the lock that guards the segment). A closed segment must load its index from the disk to
    /// open: with `mode` `.cachedOnly` that throws `wouldBlock` rather than wait.
    init(of segment: LogSegment, offset: Int64, maxBytes: Int, mode: FileReadMode) throws(StorageError) {
        guard mode == .blocking || segment.isOpen else {
            throw StorageError(.wouldBlock, "\(segment.logPath) is not open")
        }
        let files = try segment.openFiles()
        log = files.log
        baseOffset = segment.baseOffset
        size = segment.size
        let base = segment.baseOffset
        start = files.offsetIndex.lastEntry(atOrBelow: offset - base)
            .map { IndexedPosition(position: Int($0.position), offset: base + Int64($0.relativeOffset)) }
        // Bounded by the start entry rather than the first batch's own position, which only the
        // file knows: the walk then covers at most an index interval more, with the same result.
        let budgetLimit = Self.adding(start?.position ?? 0, maxBytes)
        budget = files.offsetIndex.lastEntry(atOrBelow: Int64(budgetLimit), by: { Int64($0.position) })
            .map { IndexedPosition(position: Int($0.position), offset: base + Int64($0.relativeOffset)) }
    }

    /// What a read found: the slice, and whether every index entry it used matched the log.
    struct Outcome {
        var slice: FileSlice?
        /// False when an entry did not point at a batch carrying its offset (a damaged
        /// `.index`): the slice is still right (the walk did without the entry), and the owner
        /// has the segment rebuild its indexes.
        var indexMatched = true
    }

    /// Whole batches from the one holding `offset`: at least one batch, even past `maxBytes`
    /// (unless `minimumOneBatch` is false), then more while they fit in `maxBytes` and start
    /// below `endOffset`. No slice when no batch here holds `offset` or one after it below `endOffset`.
    ///
    /// Only a few headers are read: from the start entry to the batch holding `offset`, and from
    /// the budget entry to the slice's end; the batches between are known whole and in order.
    func read(from offset: Int64, maxBytes: Int, endOffset: Int64, minimumOneBatch: Bool, mode: FileReadMode) throws(StorageError) -> Outcome {
        var outcome = Outcome()
        let found = try position(of: offset, mode: mode)
        outcome.indexMatched = found.indexMatched
        guard let first = found.batch, first.header.baseOffset < endOffset else { return outcome }
        guard minimumOneBatch || first.header.totalSize <= maxBytes else { return outcome }
        let budgetEnd = Self.adding(first.position, maxBytes)
        var end = first.position + first.header.totalSize
        var next = first.header.lastOffset + 1
        var walked: (end: Int, next: Int64)?
        if let budget, budget.position > end, budget.position <= budgetEnd, budget.offset < endOffset {
            // An entry that is a batch boundary inside the budget: everything before it goes too.
            walked = try walk(from: budget, isIndexEntry: true, to: budgetEnd, endOffset: endOffset, mode: mode)
            if walked == nil { outcome.indexMatched = false }
        }
        if walked == nil {
            walked = try walk(from: IndexedPosition(position: end, offset: next), isIndexEntry: false, to: budgetEnd, endOffset: endOffset, mode: mode)
        }
        if let walked { (end, next) = walked }
        outcome.slice = FileSlice(
            file: log, position: first.position, length: end - first.position, firstOffset: first.header.baseOffset, nextOffset: next)
        return outcome
    }

    /// The batch holding `offset` (or the first after it), or nil if every batch here ends
    /// before it. An index entry that does not point at a batch carrying its offset (a damaged
    /// `.index`) is not trusted: the lookup scans the segment from its start instead, so a
    /// consumer is never served from the wrong place, and says so in `indexMatched`.
    func position(of offset: Int64, mode: FileReadMode) throws(StorageError) -> (batch: SegmentScanner.Batch?, indexMatched: Bool) {
        var indexMatched = true
        if let start {
            var found: SegmentScanner.Batch?
            let stop = try SegmentScanner.scan(log, from: start.position, to: size, validate: false, mode: mode) { batch throws(StorageError) in
                if batch.position == start.position, batch.header.baseOffset != start.offset {
                    indexMatched = false
                    return false
                }
                guard batch.header.lastOffset >= offset else { return true }
                found = batch
                return false
            }
            // An entry past the end of the log, or not at a batch boundary at all.
            if start.position >= size { indexMatched = false }
            if case .invalidBatch(let position, _) = stop, position == start.position { indexMatched = false }
            // Found, or whole batches up to the end none of which reaches `offset`.
            if indexMatched, found != nil || stop == .endOfFile { return (found, true) }
        }
        var found: SegmentScanner.Batch?
        try SegmentScanner.scan(log, from: 0, to: size, validate: false, mode: mode) { batch throws(StorageError) in
            guard batch.header.lastOffset >= offset else { return true }
            found = batch
            return false
        }
        return (found, indexMatched)
    }

    /// Walks headers from `from` (a batch boundary) while batches start below `endOffset` and end
    /// within `budgetEnd`; returns the end and next offset of the last that fits, or `from` itself
    /// if none does. Nil if `from` is an index entry whose batch does not carry its offset (a
    /// damaged `.index`). Offsets may skip between batches, so only index entries are checked.
    private func walk(
        from: IndexedPosition, isIndexEntry: Bool, to budgetEnd: Int, endOffset: Int64, mode: FileReadMode
    ) throws(StorageError) -> (end: Int, next: Int64)? {
        var last: (end: Int, next: Int64)?
        var trusted = true
        try SegmentScanner.scan(log, from: from.position, to: size, validate: false, mode: mode) { batch throws(StorageError) in
            if isIndexEntry, batch.position == from.position, batch.header.baseOffset != from.offset {
                trusted = false
                return false
            }
            guard batch.header.baseOffset < endOffset, batch.position + batch.header.totalSize <= budgetEnd else { return false }
            last = (batch.position + batch.header.totalSize, batch.header.lastOffset + 1)
            return true
        }
        guard trusted else { return nil }
        // Nothing fit after a budget entry: the slice still runs up to the entry itself.
        return last ?? (from.position, from.offset)
    }

    /// A position plus a byte budget, saturating (a budget may be as large as Int.max).
    private static func adding(_ position: Int, _ budget: Int) -> Int {
        let (sum, overflow) = position.addingReportingOverflow(budget)
        return overflow ? Int.max : sum
    }
}
