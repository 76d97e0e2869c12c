import NIOCore
import RunnelProtocol

/// One segment of a partition log: a `.log` file of record batches starting at `baseOffset`,
/// with its sparse `.index` and `.timeindex` (names and formats as in Kafka's LogSegment).
///
/// Not thread-safe: every access goes through the owning `PartitionLog`'s mutex (hence the
/// unchecked Sendable, which lets the mutex hold it). Only `log`, a `LogFile`, is used outside.
final class LogSegment: @unchecked Sendable {
    let baseOffset: Int64
    let log: LogFile
    private(set) var offsetIndex: OffsetIndex
    private(set) var timeIndex: TimeIndex
    /// Bytes in the `.log` file.
    private(set) var size: Int
    /// One past the last offset stored here (the segment's log end).
    private(set) var nextOffset: Int64
    /// The largest batch maxTimestamp here, and the base offset of the first batch reaching it.
    private(set) var maxTimestamp: Int64 = -1
    private(set) var offsetOfMaxTimestamp: Int64
    private var bytesSinceLastIndexEntry = 0
    /// Wall-clock time (ms) of the first append, which `segment.ms` rolls are measured from.
    private(set) var firstAppendTime: Int64?
    let indexIntervalBytes: Int

    static func fileName(baseOffset: Int64, suffix: String) -> String {
        let digits = String(baseOffset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    var logPath: String { log.path }

    /// Opens or creates the segment at `directory`. With `recover`, every batch is validated, a
    /// torn or corrupt tail is truncated and the indexes are rebuilt; without it, the indexes are
    /// loaded and only the batches after the last index entry are read (and rebuilt if the
    /// indexes do not check out).
    init(directory: String, baseOffset: Int64, config: LogConfig, recover: Bool) throws(StorageError) {
        self.baseOffset = baseOffset
        indexIntervalBytes = config.indexIntervalBytes
        offsetOfMaxTimestamp = baseOffset
        let stem = directory + "/" + Self.fileName(baseOffset: baseOffset, suffix: "")
        log = try LogFile(path: stem + ".log", create: true)
        size = try log.size()
        nextOffset = baseOffset
        let indexesExist = FileSystem.exists(stem + ".index") && FileSystem.exists(stem + ".timeindex")
        if !recover, indexesExist,
           let offsets = try? OffsetIndex(path: stem + ".index", maxIndexBytes: config.maxIndexBytes, loadEntries: true),
           let times = try? TimeIndex(path: stem + ".timeindex", maxIndexBytes: config.maxIndexBytes, loadEntries: true) {
            offsetIndex = offsets
            timeIndex = times
            if (try? loadTail()) == true { return }
        }
        offsetIndex = try OffsetIndex(path: stem + ".index", maxIndexBytes: config.maxIndexBytes, loadEntries: false)
        timeIndex = try TimeIndex(path: stem + ".timeindex", maxIndexBytes: config.maxIndexBytes, loadEntries: false)
        truncatedBytesAtRecovery = try recoverFromLog()
    }

    /// Bytes cut off the end of the `.log` file by recovery (0 when nothing was torn).
    private(set) var truncatedBytesAtRecovery = 0

    // MARK: Loading and recovery

    /// Chains batch headers from the last index entry to the end of the file. False if the
    /// indexes disagree with the log (an entry past the end, a chain that misses the end).
    private func loadTail() throws(StorageError) -> Bool {
        var position = 0
        if let entry = offsetIndex.last {
            guard Int(entry.position) < size else { return false }
            position = Int(entry.position)
            nextOffset = baseOffset + Int64(entry.relativeOffset)
        }
        if let entry = timeIndex.last {
            maxTimestamp = entry.timestamp
            offsetOfMaxTimestamp = baseOffset + Int64(entry.relativeOffset)
        }
        var consistent = true
        let stop = try SegmentScanner.scan(log, from: position, to: size, validate: false) { batch throws(StorageError) in
            // The indexed batch must carry the indexed offset; later ones must follow it.
            let expected = batch.position == position ? batch.header.baseOffset == nextOffset : batch.header.baseOffset >= nextOffset
            guard expected else {
                consistent = false
                return false
            }
            observe(batch.header)
            return true
        }
        return consistent && stop == .endOfFile
    }

    /// Validates every batch, rebuilds both indexes, truncates at the first invalid batch.
    private func recoverFromLog() throws(StorageError) -> Int {
        nextOffset = baseOffset
        maxTimestamp = -1
        offsetOfMaxTimestamp = baseOffset
        bytesSinceLastIndexEntry = 0
        var validEnd = 0
        let stop = try SegmentScanner.scan(log, from: 0, to: size, validate: true) { batch throws(StorageError) in
            // Offsets must increase; a batch that goes backwards is not part of this log.
            guard batch.header.baseOffset >= nextOffset, batch.header.lastOffset - baseOffset <= Int64(UInt32.max) else {
                return false
            }
            try indexIfDue(batch.header, position: batch.position)
            observe(batch.header)
            validEnd = batch.position + batch.header.totalSize
            return true
        }
        let truncated = size - validEnd
        if stop != .endOfFile || truncated > 0 {
            try log.truncate(to: validEnd)
            size = validEnd
        }
        return truncated
    }

    private func observe(_ header: RecordBatchHeader) {
        nextOffset = header.lastOffset + 1
        if header.maxTimestamp > maxTimestamp {
            maxTimestamp = header.maxTimestamp
            offsetOfMaxTimestamp = header.baseOffset
        }
    }

    /// Adds sparse index entries once `index.interval.bytes` have accumulated since the last.
    private func indexIfDue(_ header: RecordBatchHeader, position: Int) throws(StorageError) {
        // A full index (recovery of a segment written with a larger segment.index.bytes) just
        // stops getting entries: lookups scan a little further, and the next append rolls.
        if bytesSinceLastIndexEntry >= indexIntervalBytes, !isIndexFull {
            try offsetIndex.append(OffsetIndexEntry(
                relativeOffset: UInt32(header.baseOffset - baseOffset), position: UInt32(position)))
            let runningMax = max(maxTimestamp, header.maxTimestamp)
            if runningMax > (timeIndex.last?.timestamp ?? -1) {
                let offsetOfMax = header.maxTimestamp > maxTimestamp ? header.baseOffset : offsetOfMaxTimestamp
                try timeIndex.append(TimeIndexEntry(timestamp: runningMax, relativeOffset: UInt32(offsetOfMax - baseOffset)))
            }
            bytesSinceLastIndexEntry = 0
        }
        bytesSinceLastIndexEntry += header.totalSize
    }

    // MARK: Appending

    var isIndexFull: Bool { offsetIndex.isFull || timeIndex.isFull }

    /// Whether a batch spanning these offsets can still be addressed with u32 relative offsets.
    func canHold(lastOffset: Int64, bytes: Int) -> Bool {
        lastOffset - baseOffset <= Int64(UInt32.max) && size + bytes <= Int(UInt32.max)
    }

    /// Appends a batch whose header was stamped into `head` (its first bytes) and whose
    /// remaining bytes are `body`; `header` describes the stamped batch.
    func append(head: ByteBuffer, body: ByteBuffer, header: RecordBatchHeader, now: Int64) throws(StorageError) {
        try log.write(head: head, body: body, at: size)
        try indexIfDue(header, position: size)
        observe(header)
        size += header.totalSize
        if firstAppendTime == nil { firstAppendTime = now }
    }

    // MARK: Reading

    /// The position of the batch holding `offset` (or the first batch after it), or nil when
    /// every batch here ends before `offset`.
    func position(of offset: Int64) throws(StorageError) -> SegmentScanner.Batch? {
        let start = offsetIndex.lastEntry(atOrBelow: offset - baseOffset).map { Int($0.position) } ?? 0
        var found: SegmentScanner.Batch?
        try SegmentScanner.scan(log, from: start, to: size, validate: false) { batch throws(StorageError) in
            if batch.header.lastOffset >= offset {
                found = batch
                return false
            }
            return true
        }
        return found
    }

    /// Calls `visit` with the header of every batch from the one holding `offset` to the end.
    func visitBatches(from offset: Int64, _ visit: (RecordBatchHeader) -> Void) throws(StorageError) {
        guard let first = try position(of: offset) else { return }
        try SegmentScanner.scan(log, from: first.position, to: size, validate: false) { batch throws(StorageError) in
            visit(batch.header)
            return true
        }
    }

    /// Whole batches from the one holding `offset`: at least one batch, even past `maxBytes`
    /// (unless `minimumOneBatch` is false), then more while they fit in `maxBytes` and start
    /// below `endOffset`.
    ///
    /// The batches between the first one and the last index entry inside the byte budget are
    /// known to be whole and in order, so only the few after that entry are walked: a 1 MiB
    /// read costs two short header walks, not a walk over 1 MiB of headers.
    func read(from offset: Int64, maxBytes: Int, endOffset: Int64, minimumOneBatch: Bool = true) throws(StorageError) -> FileSlice? {
        guard let first = try position(of: offset), first.header.baseOffset < endOffset else { return nil }
        guard minimumOneBatch || first.header.totalSize <= maxBytes else { return nil }
        var end = first.position + first.header.totalSize
        var next = first.header.lastOffset + 1
        var walkFrom = end
        var walkFromOffset = next
        let budgetEnd = first.position + maxBytes
        if let entry = offsetIndex.lastEntry(atOrBelow: Int64(budgetEnd), by: { Int64($0.position) }),
           Int(entry.position) > first.position, baseOffset + Int64(entry.relativeOffset) < endOffset {
            walkFrom = Int(entry.position)
            walkFromOffset = baseOffset + Int64(entry.relativeOffset)
        }
        try SegmentScanner.scan(log, from: walkFrom, to: size, validate: false) { batch throws(StorageError) in
            guard batch.header.baseOffset < endOffset else { return false }
            guard batch.position + batch.header.totalSize <= budgetEnd else { return false }
            end = batch.position + batch.header.totalSize
            next = batch.header.lastOffset + 1
            return true
        }
        if walkFrom > end {
            // Nothing fit after the index entry: the slice still runs up to it.
            end = walkFrom
            next = walkFromOffset
        }
        return FileSlice(file: log, position: first.position, length: end - first.position, firstOffset: first.header.baseOffset, nextOffset: next)
    }

    /// The first record whose timestamp is at or after `timestamp`, or nil if none here.
    func offset(forTimestamp timestamp: Int64) throws(StorageError) -> TimestampAndOffset? {
        guard maxTimestamp >= timestamp else { return nil }
        let startOffset = timeIndex.lastEntry(atOrBelow: timestamp).map { baseOffset + Int64($0.relativeOffset) } ?? baseOffset
        guard let start = try position(of: startOffset) else { return nil }
        var result: TimestampAndOffset?
        var failure: StorageError?
        try SegmentScanner.scan(log, from: start.position, to: size, validate: false) { batch throws(StorageError) in
            guard batch.header.maxTimestamp >= timestamp else { return true }
            do {
                let bytes = try log.read(at: batch.position, length: batch.header.totalSize)
                let records = try RecordBatch(validating: bytes).records()
                result = records.first { $0.timestamp >= timestamp }.map { TimestampAndOffset(timestamp: $0.timestamp, offset: $0.offset) }
            } catch let error as StorageError {
                failure = error
            } catch {
                failure = StorageError(.corruptFile, "\(log.path) at \(batch.position): \(error)")
            }
            return result == nil && failure == nil
        }
        if let failure { throw failure }
        return result
    }

    // MARK: Truncation, rolling, closing

    /// Removes the batch holding `offset` and everything after it; returns whether anything went.
    @discardableResult
    func truncate(to offset: Int64) throws(StorageError) -> Bool {
        guard offset < nextOffset else { return false }
        let cut = try position(of: offset)?.position ?? size
        let relative = offset - baseOffset
        try offsetIndex.removeEntries { Int64($0.relativeOffset) >= relative || Int($0.position) >= cut }
        try timeIndex.removeEntries { Int64($0.relativeOffset) >= relative }
        try log.truncate(to: cut)
        size = cut
        // Re-derive the log end and the timestamp bookkeeping from what remains.
        nextOffset = baseOffset
        maxTimestamp = timeIndex.last?.timestamp ?? -1
        offsetOfMaxTimestamp = timeIndex.last.map { baseOffset + Int64($0.relativeOffset) } ?? baseOffset
        bytesSinceLastIndexEntry = 0
        _ = try loadTail()
        return true
    }

    /// Called when a newer segment becomes active: records the final largest timestamp and
    /// trims the preallocated index files to their entries.
    func becomeInactive() throws(StorageError) {
        if maxTimestamp > (timeIndex.last?.timestamp ?? -1), !timeIndex.isFull {
            try timeIndex.append(TimeIndexEntry(timestamp: maxTimestamp, relativeOffset: UInt32(offsetOfMaxTimestamp - baseOffset)))
        }
        try offsetIndex.trim()
        try timeIndex.trim()
    }

    /// The files to fsync for durability: the log, plus the indexes when asked.
    func filesToSync(includingIndexes: Bool) -> [LogFile] {
        includingIndexes ? [log, offsetIndex.file, timeIndex.file] : [log]
    }

    /// fsyncs the log and both indexes.
    func sync() throws(StorageError) {
        for file in filesToSync(includingIndexes: true) { try file.sync() }
    }

    /// Removes the segment's files. Open slices keep the data readable until they are done.
    func deleteFiles() throws(StorageError) {
        try FileSystem.remove(log.path)
        try FileSystem.remove(offsetIndex.file.path)
        try FileSystem.remove(timeIndex.file.path)
    }
}
