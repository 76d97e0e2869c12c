import NIOCore
import RunnelProtocol

/// One segment of a partition log: a `.log` file of record batches starting at `baseOffset`,
/// with its sparse `.index` and `.timeindex` (names and formats as in Kafka's LogSegment).
///
/// Open files: the segment always knows its base offset, size, next offset and largest
/// timestamp, which is all retention, rolling and the choice of segment need. Its files and
/// index entries (`SegmentFiles`) are opened on first use (`openFiles`) and dropped again by
/// `closeIfIdle`, so descriptors and index memory grow with the segments in use (the active
/// ones and those being read), not with every segment on disk. Kafka opens inactive indexes
/// lazily too, but keeps every `.log` open.
///
/// Concurrency: not thread-safe. Every access goes through the owning `PartitionLog`'s mutex
/// (hence the unchecked Sendable, which lets the mutex hold it), including opening and closing.
/// Closing only drops this segment's references: a `FileSlice` handed to a fetch holds its own
/// reference to the `LogFile`, whose descriptor closes when the last reference goes, so a
/// sendfile in flight never sees its descriptor closed or reused. The owner closes only
/// inactive segments that are durable (below the recovery point): an fsync through a
/// descriptor opened later would not report a write-back error that happened before it.
final class LogSegment: @unchecked Sendable {
    let baseOffset: Int64
    /// The segment's file paths without their suffix: `<partition directory>/<20-digit base>`.
    let stem: String
    /// Appended to each file name: empty for a live segment, `.cleaned` for a log cleaner's
    /// output being written (see SegmentSwap), which no loading ever opens.
    let fileSuffix: String
    let indexIntervalBytes: Int
    let maxIndexBytes: Int
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
    /// The open files, or nil while the segment is closed.
    private var files: SegmentFiles?
    /// Set by every use of the files, cleared by `closeIfIdle` (a second-chance sweep).
    private var usedSinceIdleCheck = false
    /// What loading cut off the end of this segment, if anything (see SegmentDamage).
    private(set) var damage: SegmentDamage?
    /// Whether loading validated every batch and rebuilt the indexes (the loader fsyncs it).
    private(set) var wasRecovered = false
    /// Who produced the batches appended as leader (`runnel trace`); made on the first one.
    private var trace: TraceSidecar?

    static func fileName(baseOffset: Int64, suffix: String) -> String {
        let digits = String(baseOffset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    /// The base offset a file name's stem gives: exactly 20 digits, as `fileName` writes them
    /// (`0.log` or `+0.log` would name a second segment 0, and are not segments).
    static func baseOffset(fromStem stem: Substring) -> Int64? {
        guard stem.utf8.count == 20, stem.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return Int64(stem)
    }

    var logPath: String { stem + ".log" + fileSuffix }
    var isOpen: Bool { files != nil }

    /// The open `.log` file (opening the segment if it is closed).
    var log: LogFile { get throws(StorageError) { try openFiles().log } }
    var offsetIndex: OffsetIndex { get throws(StorageError) { try openFiles().offsetIndex } }
    var timeIndex: TimeIndex { get throws(StorageError) { try openFiles().timeIndex } }

    /// Opens or creates the segment at `directory`. With `recover`, every batch is validated, a
    /// torn or corrupt tail is moved aside and truncated (`damage`) and the indexes are rebuilt;
    /// without it, the indexes are loaded and only the batches after the last index entry are
    /// read. If the indexes do not check out, they are rebuilt; if that walk finds the log's end
    /// torn (a file cut after a clean shutdown), the segment is recovered as above.
    /// `checkIndexEntries` checks every offset index entry against the log first (indexes
    /// loaded after an unclean shutdown, which may hold entries never written out).
    init(
        directory: String, baseOffset: Int64, config: LogConfig, recover: Bool, checkIndexEntries: Bool = false, fileSuffix: String = ""
    ) throws(StorageError) {
        self.baseOffset = baseOffset
        stem = directory + "/" + Self.fileName(baseOffset: baseOffset, suffix: "")
        self.fileSuffix = fileSuffix
        indexIntervalBytes = config.indexIntervalBytes
        maxIndexBytes = config.maxIndexBytes
        offsetOfMaxTimestamp = baseOffset
        let log = try LogFile(path: stem + ".log" + fileSuffix, create: true)
        size = try log.size()
        nextOffset = baseOffset
        if !recover, let (offsets, times) = SegmentFiles.loadIndexes(stem: stem, suffix: fileSuffix, maxIndexBytes: maxIndexBytes) {
            files = SegmentFiles(log: log, offsetIndex: offsets, timeIndex: times)
            if (try? loadTail()) == true, !checkIndexEntries || (try? indexEntriesMatchLog()) == true { return }
        }
        let (offsets, times) = try SegmentFiles.emptyIndexes(stem: stem, suffix: fileSuffix, maxIndexBytes: maxIndexBytes)
        files = SegmentFiles(log: log, offsetIndex: offsets, timeIndex: times)
        try recoverFromLog()
    }

    /// Bytes cut off the end of the `.log` file at load (0 when nothing was damaged).
    var truncatedBytesAtRecovery: Int { damage?.bytes ?? 0 }

    // MARK: Open and closed files

    /// The segment's open files, opening them (and loading the index entries) if it is closed.
    /// Indexes that are not well-formed are rebuilt from the log.
    @discardableResult
    func openFiles() throws(StorageError) -> SegmentFiles {
        usedSinceIdleCheck = true
        if let files { return files }
        // The log must still be there: creating an empty one would hide a deleted file.
        let log = try LogFile(path: logPath, create: false)
        if let (offsets, times) = SegmentFiles.loadIndexes(stem: stem, suffix: fileSuffix, maxIndexBytes: maxIndexBytes) {
            let opened = SegmentFiles(log: log, offsetIndex: offsets, timeIndex: times)
            files = opened
            return opened
        }
        let (offsets, times) = try SegmentFiles.emptyIndexes(stem: stem, suffix: fileSuffix, maxIndexBytes: maxIndexBytes)
        let opened = SegmentFiles(log: log, offsetIndex: offsets, timeIndex: times)
        files = opened
        try rebuildIndexes()
        return opened
    }

    /// Closes the files now (the loader, for inactive segments it has finished with). The owner
    /// guarantees the segment is inactive and durable (see the type's comment).
    func closeFiles() {
        trace?.close()
        files = nil
        usedSinceIdleCheck = false
    }

    /// Closes the files if they were not used since the last call; returns whether it closed.
    /// Called periodically by the owner for inactive, durable segments, so a segment stays open
    /// between one sweep and the next after its last use.
    func closeIfIdle() -> Bool {
        guard files != nil else { return false }
        if usedSinceIdleCheck {
            usedSinceIdleCheck = false
            return false
        }
        trace?.close()
        files = nil
        return true
    }

    // MARK: Loading and recovery

    /// Chains batch headers from the last index entry to the end of the file. False if the
    /// indexes disagree with the log (an entry past the end, a chain that misses the end).
    private func loadTail() throws(StorageError) -> Bool {
        let files = try openFiles()
        var position = 0
        if let entry = files.offsetIndex.last {
            guard Int(entry.position) < size else { return false }
            position = Int(entry.position)
            nextOffset = baseOffset + Int64(entry.relativeOffset)
        }
        if let entry = files.timeIndex.last {
            maxTimestamp = entry.timestamp
            offsetOfMaxTimestamp = baseOffset + Int64(entry.relativeOffset)
        }
        var consistent = true
        let indexed = files.offsetIndex.last != nil
        let stop = try SegmentScanner.scan(files.log, from: position, to: size, validate: false) { batch throws(StorageError) in
            // The indexed batch must carry the indexed offset; later ones must follow it, within
            // the offsets a segment can index (relative offsets are 32-bit). Offsets may skip
            // (a compacted log, or a follower of one): without an index entry the first batch
            // may start above the segment's base.
            let follows = batch.position == position && indexed ? batch.header.baseOffset == nextOffset : batch.header.baseOffset >= nextOffset
            guard follows, batch.header.lastOffset - baseOffset <= Int64(UInt32.max) else {
                consistent = false
                return false
            }
            observe(batch.header)
            return true
        }
        return consistent && stop == .endOfFile
    }

    /// Whether every offset index entry points at a batch that starts with the entry's offset,
    /// and every time index entry at an offset inside the segment. One header read per entry.
    private func indexEntriesMatchLog() throws(StorageError) -> Bool {
        let files = try openFiles()
        for entry in files.offsetIndex.entries {
            guard Int(entry.position) + RecordBatchHeader.size <= size else { return false }
            let bytes = try files.log.read(at: Int(entry.position), length: RecordBatchHeader.size)
            guard let header = try? RecordBatchHeader(from: bytes, at: bytes.readerIndex),
                  header.magic == RecordBatchHeader.currentMagic,
                  header.baseOffset == baseOffset + Int64(entry.relativeOffset)
            else { return false }
        }
        let positions = files.offsetIndex.entries.map(\.position)
        guard zip(positions, positions.dropFirst()).allSatisfy({ $0 < $1 }) else { return false }
        return files.timeIndex.entries.allSatisfy { baseOffset + Int64($0.relativeOffset) < max(nextOffset, baseOffset + 1) }
    }

    /// Validates every batch, rebuilds both indexes, and cuts the log at the first invalid
    /// batch, moving the bytes from there to the end aside first (`damage`).
    private func recoverFromLog() throws(StorageError) {
        let files = try openFiles()
        nextOffset = baseOffset
        maxTimestamp = -1
        offsetOfMaxTimestamp = baseOffset
        bytesSinceLastIndexEntry = 0
        var validEnd = 0
        var rejection: String?
        let stop = try SegmentScanner.scan(files.log, from: 0, to: size, validate: true) { batch throws(StorageError) in
            // Offsets must increase; a batch that goes backwards is not part of this log.
            guard batch.header.baseOffset >= nextOffset, batch.header.lastOffset - baseOffset <= Int64(UInt32.max) else {
                rejection = "its offsets \(batch.header.baseOffset)...\(batch.header.lastOffset) do not follow \(nextOffset - 1)"
                return false
            }
            try indexIfDue(batch.header, position: batch.position)
            observe(batch.header)
            validEnd = batch.position + batch.header.totalSize
            return true
        }
        wasRecovered = true
        // Preallocated while rebuilding; an active segment preallocates again on its next append.
        try files.offsetIndex.trim()
        try files.timeIndex.trim()
        guard validEnd < size else { return }
        if case .invalidBatch(_, let reason) = stop { rejection = reason }
        let corruptPath = try SegmentDamage.moveAside(files.log, from: validEnd, to: size, now: PartitionLog.wallClockMilliseconds())
        try files.log.truncate(to: validEnd)
        damage = SegmentDamage(
            logPath: logPath, position: validEnd, bytes: size - validEnd, firstLostOffset: nextOffset, lostOffsetsEnd: nil,
            corruptPath: corruptPath, reason: rejection ?? "the batch there is not valid")
        size = validEnd
    }

    /// Records how far the lost offsets of a damaged segment reach (the next segment's base).
    func noteLostOffsets(end: Int64) {
        damage?.lostOffsetsEnd = end
    }

    /// Rebuilds both indexes from the batch headers in the log (their entries did not match the
    /// log). The log is not judged here: where the walk stops early, the rest is simply not
    /// indexed, and the segment's offsets stay what loading found.
    private func rebuildIndexes() throws(StorageError) {
        let files = try openFiles()
        (files.offsetIndex, files.timeIndex) = try SegmentFiles.emptyIndexes(stem: stem, suffix: fileSuffix, maxIndexBytes: maxIndexBytes)
        let loaded = (nextOffset, maxTimestamp, offsetOfMaxTimestamp)
        nextOffset = baseOffset
        maxTimestamp = -1
        offsetOfMaxTimestamp = baseOffset
        bytesSinceLastIndexEntry = 0
        try SegmentScanner.scan(files.log, from: 0, to: size, validate: false) { batch throws(StorageError) in
            guard batch.header.baseOffset >= nextOffset, batch.header.lastOffset - baseOffset <= Int64(UInt32.max) else { return false }
            try indexIfDue(batch.header, position: batch.position)
            observe(batch.header)
            return true
        }
        (nextOffset, maxTimestamp, offsetOfMaxTimestamp) = loaded
        try files.offsetIndex.trim()
        try files.timeIndex.trim()
        // Derived data, but a later clean start trusts it without checking: make it durable.
        try files.offsetIndex.sync()
        try files.timeIndex.sync()
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
        let files = try openFiles()
        // A full index (recovery of a segment written with a larger segment.index.bytes) just
        // stops getting entries: lookups scan a little further, and the next append rolls.
        // Positions past 4 GiB cannot be indexed (32-bit entries): a segment that large was not
        // written by this broker (appends roll first); its tail is found by scanning.
        if bytesSinceLastIndexEntry >= indexIntervalBytes, !isIndexFull, let entryPosition = UInt32(exactly: position) {
            try files.offsetIndex.append(OffsetIndexEntry(
                relativeOffset: UInt32(header.baseOffset - baseOffset), position: entryPosition))
            let runningMax = max(maxTimestamp, header.maxTimestamp)
            if runningMax > (files.timeIndex.last?.timestamp ?? -1) {
                let offsetOfMax = header.maxTimestamp > maxTimestamp ? header.baseOffset : offsetOfMaxTimestamp
                try files.timeIndex.append(TimeIndexEntry(timestamp: runningMax, relativeOffset: UInt32(offsetOfMax - baseOffset)))
            }
            bytesSinceLastIndexEntry = 0
        }
        bytesSinceLastIndexEntry += header.totalSize
    }

    // MARK: Appending

    /// Whether an index is full (a closed segment's are not looked at: appends open it first).
    var isIndexFull: Bool { files.map { $0.offsetIndex.isFull || $0.timeIndex.isFull } ?? false }

    /// Whether a batch spanning these offsets can still be addressed with u32 relative offsets.
    func canHold(lastOffset: Int64, bytes: Int) -> Bool {
        lastOffset - baseOffset <= Int64(UInt32.max) && size + bytes <= Int(UInt32.max)
    }

    /// Appends a batch whose header was stamped into `head` (its first bytes) and whose
    /// remaining bytes are `body`; `header` describes the stamped batch.
    func append(head: ByteBuffer, body: ByteBuffer, header: RecordBatchHeader, now: Int64) throws(StorageError) {
        do {
            try log.write(head: head, body: body, at: size)
        } catch {
            // A disk that filled up mid-write may leave part of the batch past `size`. Cut it
            // off now (best effort: the next append overwrites it anyway, and recovery would
            // truncate it) so the file never holds a torn batch behind a live log.
            try? log.truncate(to: size)
            throw error
        }
        try indexIfDue(header, position: size)
        observe(header)
        size += header.totalSize
        if firstAppendTime == nil { firstAppendTime = now }
    }

    // MARK: Reading

    /// The position of the batch holding `offset` (or the first batch after it), or nil when
    /// every batch here ends before `offset`.
    ///
    /// The index entry used is checked: the batch at its position must start with its offset
    /// (so it is a batch boundary at or below `offset`). A damaged entry would otherwise send
    /// the walk past the batches it skips, silently; instead the indexes are rebuilt from the
    /// log and the lookup is made again, or, if the log itself does not match, from the first
    /// batch.
    func position(of offset: Int64) throws(StorageError) -> SegmentScanner.Batch? {
        for attempt in 0..<2 {
            guard let entry = try openFiles().offsetIndex.lastEntry(atOrBelow: offset - baseOffset) else { break }
            var found: SegmentScanner.Batch?
            let matches = try walk(from: Int(entry.position), startingWith: baseOffset + Int64(entry.relativeOffset)) { batch in
                guard batch.header.lastOffset >= offset else { return true }
                found = batch
                return false
            }
            if matches { return found }
            if attempt == 0 { try rebuildIndexes() }
        }
        var found: SegmentScanner.Batch?
        _ = try walk(from: 0, startingWith: nil) { batch in
            guard batch.header.lastOffset >= offset else { return true }
            found = batch
            return false
        }
        return found
    }

    /// Walks batch headers from `start`, calling `visit` until it returns false. With
    /// `startingWith` (an index entry's offset), returns false without visiting anything if the
    /// bytes at `start` are not a batch with that base offset (the entry does not match the log).
    private func walk(
        from start: Int, startingWith expected: Int64?, _ visit: (SegmentScanner.Batch) throws(StorageError) -> Bool
    ) throws(StorageError) -> Bool {
        let files = try openFiles()
        guard let expected else {
            try SegmentScanner.scan(files.log, from: start, to: size, validate: false, visit: visit)
            return true
        }
        guard start < size else { return false }
        var matches = false
        try SegmentScanner.scan(files.log, from: start, to: size, validate: false) { batch throws(StorageError) in
            if batch.position == start {
                guard batch.header.baseOffset == expected else { return false }
                matches = true
            }
            return try visit(batch)
        }
        return matches
    }

    /// Calls `visit` with the header of every batch from the one holding `offset` to the end.
    func visitBatches(from offset: Int64, _ visit: (RecordBatchHeader) -> Void) throws(StorageError) {
        guard let first = try position(of: offset) else { return }
        _ = try walk(from: first.position, startingWith: nil) { batch in
            visit(batch.header)
            return true
        }
    }

    /// The first record whose timestamp is at or after `timestamp`, or nil if none here.
    ///
    /// Inside the batch the time index leads to, only the records' timestamps are read, in place
    /// and within `RecordBatchLimits.readable`: the bound of the largest configuration under which
    /// the batch could have been accepted, so every stored batch can be searched.
    func offset(forTimestamp timestamp: Int64) throws(StorageError) -> TimestampAndOffset? {
        guard maxTimestamp >= timestamp else { return nil }
        let startOffset = try timeIndex.lastEntry(atOrBelow: timestamp).map { baseOffset + Int64($0.relativeOffset) } ?? baseOffset
        guard let start = try position(of: startOffset) else { return nil }
        var result: TimestampAndOffset?
        var failure: StorageError?
        try SegmentScanner.scan(log, from: start.position, to: size, validate: false) { batch throws(StorageError) in
            guard batch.header.maxTimestamp >= timestamp else { return true }
            do {
                let bytes = try log.read(at: batch.position, length: batch.header.totalSize)
                let found = try RecordBatch(validating: bytes).firstRecord(atOrAfter: timestamp, limits: .readable)
                result = found.map { TimestampAndOffset(timestamp: $0.timestamp, offset: $0.offset) }
            } catch let error as StorageError {
                failure = error
            } catch {
                failure = StorageError(.corruptFile, "\(logPath) at \(batch.position): \(error)")
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
        let files = try openFiles()
        let relative = offset - baseOffset
        try files.offsetIndex.removeEntries { Int64($0.relativeOffset) >= relative || Int($0.position) >= cut }
        try files.timeIndex.removeEntries { Int64($0.relativeOffset) >= relative }
        try files.log.truncate(to: cut)
        size = cut
        // Re-derive the log end and the timestamp bookkeeping from what remains.
        nextOffset = baseOffset
        maxTimestamp = files.timeIndex.last?.timestamp ?? -1
        offsetOfMaxTimestamp = files.timeIndex.last.map { baseOffset + Int64($0.relativeOffset) } ?? baseOffset
        bytesSinceLastIndexEntry = 0
        _ = try loadTail()
        return true
    }

    /// Called when a newer segment becomes active: records the final largest timestamp and
    /// trims the preallocated index files to their entries.
    func becomeInactive() throws(StorageError) {
        trace?.close()
        let files = try openFiles()
        if maxTimestamp > (files.timeIndex.last?.timestamp ?? -1), !files.timeIndex.isFull {
            try files.timeIndex.append(TimeIndexEntry(timestamp: maxTimestamp, relativeOffset: UInt32(offsetOfMaxTimestamp - baseOffset)))
        }
        try files.offsetIndex.trim()
        try files.timeIndex.trim()
    }

    /// The files to fsync for durability: the log, plus the indexes when asked. A closed
    /// segment has none: only durable segments are closed (see the type's comment).
    func filesToSync(includingIndexes: Bool) -> [LogFile] {
        guard let files else { return [] }
        return includingIndexes ? [files.log, files.offsetIndex.file, files.timeIndex.file] : [files.log]
    }

    /// fsyncs the log and both indexes (nothing for a closed, hence durable, segment).
    func sync() throws(StorageError) {
        for file in filesToSync(includingIndexes: true) { try file.sync() }
    }

    /// Removes the segment's files. Open slices keep the data readable until they are done.
    func deleteFiles() throws(StorageError) {
        files = nil
        trace = nil
        for suffix in [".log", ".index", ".timeindex", TraceSidecar.fileSuffix] { try FileSystem.remove(stem + suffix + fileSuffix) }
    }

    // MARK: Trace

    /// Records who produced the batch just appended as leader (see TraceSidecar).
    func recordOrigin(_ header: RecordBatchHeader, origin: BatchOrigin, appendTimeMs: Int64) {
        let sidecar = trace ?? TraceSidecar(path: stem + TraceSidecar.fileSuffix + fileSuffix)
        trace = sidecar
        sidecar.record(header, origin: origin, appendTimeMs: appendTimeMs)
    }

    /// What a trace lookup reads: the sidecar file (perhaps written before a restart) and
    /// the entries not yet written.
    var traceSnapshot: TraceSidecar.Snapshot {
        trace?.snapshot ?? TraceSidecar.Snapshot(path: stem + TraceSidecar.fileSuffix + fileSuffix, pending: [])
    }
}
