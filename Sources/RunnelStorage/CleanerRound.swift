import NIOCore
import RunnelProtocol

/// One log cleaner pass over one partition (Kafka's `Cleaner.doClean`): build a map of the last
/// offset of every key in the dirty section, then rewrite the log below the map's end, group of
/// segments by group, keeping of each key only its last record, and swap each cleaned group in.
///
/// What goes: a record whose key has a later record in the map; a record without a key (it
/// cannot be looked up, as Kafka drops it); a tombstone (null value) whose batch's delete
/// horizon has passed — the horizon (now + `delete.retention.ms`, KIP-534) is stamped on a
/// batch the first time a round keeps a tombstone of it. What stays whatever its records: the
/// last batch of each live producer and the first batch of each leader epoch (emptied if no
/// record is left: 61 bytes keeping the producer's sequence and the epoch history rebuildable
/// from the segments) and control batches. A group whose records all go becomes an empty
/// segment, which reads skip (as Kafka's). Offsets, timestamps and headers of kept records never
/// change, and nothing at or past the first uncleanable offset is read for removal.
///
/// Runs on a cleaner thread with no lock held except for the snapshot and the swap (see
/// PartitionLog+Cleaning). Ownership: one round, one thread.
struct CleanerRound {
    let log: PartitionLog
    let snapshot: PartitionLog.CleaningSnapshot
    let range: LogToClean
    let now: Int64
    let mapBytes: Int
    let loadFactor: Double
    let throttler: CleanerThrottler
    /// Checked between batches: the cleaner is shutting down.
    let shouldStop: @Sendable () -> Bool
    let failpoint: (String) throws -> Void

    struct Stats: Equatable {
        /// Where the next round's dirty section starts (the checkpoint).
        var endOffset: Int64
        var bytesRead = 0
        var bytesWritten = 0
        var recordsRead = 0
        var recordsKept = 0
        var groups = 0
        var mapKeys = 0
    }

    enum Outcome: Equatable {
        case cleaned(Stats)
        /// The log changed under the round (truncated, deleted, segments gone) or the cleaner
        /// stops: its output was discarded and nothing was swapped in after that.
        case abandoned
    }

    /// Thrown when a segment does not read back as valid batches: the partition is not
    /// cleaned again until restart (Kafka marks it uncleanable).
    struct CorruptSegment: Error, CustomStringConvertible {
        var description: String
    }

    func run() throws -> Outcome {
        var stats = Stats(endOffset: range.firstDirtyOffset)
        let map = OffsetMap(
            memoryBytes: mapBytes, expectedKeys: Int(clamping: range.firstUncleanableOffset - range.firstDirtyOffset), loadFactor: loadFactor)
        guard try buildMap(map, stats: &stats) else { return .abandoned }
        let endOffset = map.latestOffset + 1
        guard endOffset > range.firstDirtyOffset else { return .cleaned(stats) }
        stats.endOffset = endOffset
        stats.mapKeys = map.count
        let toClean = snapshot.segments.filter { $0.baseOffset < endOffset && $0.baseOffset < range.firstUncleanableOffset }
        for group in Self.groupBySize(toClean, maxBytes: snapshot.config.segmentBytes) {
            guard try clean(group, map: map, stats: &stats) else { return .abandoned }
            stats.groups += 1
        }
        return .cleaned(stats)
    }

    // MARK: The offset map

    /// Puts the last offset of every key in the dirty section into `map`, until the map is
    /// full. Returns false if the round must be abandoned.
    private func buildMap(_ map: OffsetMap, stats: inout Stats) throws -> Bool {
        let dirty = snapshot.segments.filter { $0.nextOffset > range.firstDirtyOffset && $0.baseOffset < range.firstUncleanableOffset }
        var full = false
        for segment in dirty where !full {
            let completed = try scan(segment, bytesRead: &stats.bytesRead) { batch in
                if batch.header.lastOffset < range.firstDirtyOffset { return true }
                if batch.header.attributes.isControl {
                    map.updateLatestOffset(batch.header.lastOffset)
                    return true
                }
                try batch.forEachRecord(limits: .readable) { record in
                    guard !full, record.offset >= range.firstDirtyOffset else { return }
                    if let key = record.key, !map.put(key, offset: record.offset) {
                        full = true
                        return
                    }
                    map.updateLatestOffset(record.offset)
                }
                if !full { map.updateLatestOffset(batch.header.lastOffset) }
                return !full
            }
            guard completed != nil else { return false }
            // The offsets a segment skips at its end are covered too.
            if !full { map.updateLatestOffset(segment.nextOffset - 1) }
        }
        return true
    }

    // MARK: Copying

    /// Writes the cleaned copy of `group` and swaps it in. Returns false if the round must be
    /// abandoned (its output is then removed).
    private func clean(_ group: [PartitionLog.CleanableSegment], map: OffsetMap, stats: inout Stats) throws -> Bool {
        let base = group[0].baseOffset
        let directory = log.directory
        Self.removeCleanedFiles(directory: directory, baseOffset: base)
        var config = snapshot.config
        config.maxIndexBytes = max(config.maxIndexBytes, 12)
        let output = try LogSegment(directory: directory, baseOffset: base, config: config, recover: false, fileSuffix: SegmentSwap.cleanedSuffix)
        var swapped = false
        defer { if !swapped { Self.removeCleanedFiles(directory: directory, baseOffset: base) } }
        let horizon = now > Int64.max - snapshot.config.deleteRetentionMs ? Int64.max : now + snapshot.config.deleteRetentionMs
        for segment in group {
            var read = 0
            defer { stats.bytesRead += read }
            let completed = try scan(segment, bytesRead: &read) { batch in
                let header = batch.header
                let keepsItsPlace = header.attributes.isControl
                    || (header.producerId >= 0 && snapshot.producerBatchEnds.contains(header.lastOffset))
                    || snapshot.epochStarts.contains(header.baseOffset)
                let result: RecordBatch.FilterResult = header.attributes.isControl
                    ? .unchanged
                    : try batch.filtered(limits: .readable, keepEmpty: keepsItsPlace, deleteHorizonMs: horizon) { record in
                        stats.recordsRead += 1
                        let kept = shouldKeep(record, batchHorizon: batch.deleteHorizonMs, map: map)
                        if kept { stats.recordsKept += 1 }
                        return kept
                    }
                switch result {
                case .unchanged: try append(batch.bytes, to: output, stats: &stats)
                case .rebuilt(let bytes, _): try append(bytes, to: output, stats: &stats)
                case .dropped: break
                }
                return true
            }
            guard completed != nil else { return false }
        }
        try output.becomeInactive()
        try output.sync()
        guard try log.replaceWithCleaned(group.map(\.segment), by: output, generation: snapshot.generation, failpoint: failpoint) else {
            return false
        }
        swapped = true
        return true
    }

    /// Kafka's `shouldRetainRecord` for a record below the map's end.
    private func shouldKeep(_ record: FilterableRecord, batchHorizon: Int64?, map: OffsetMap) -> Bool {
        guard let key = record.key else { return false }
        if record.offset > map.latestOffset { return true }
        if let latest = map.offset(of: key), record.offset < latest { return false }
        if record.isTombstone, let batchHorizon, now >= batchHorizon { return false }
        return true
    }

    private func append(_ bytes: ByteBuffer, to output: LogSegment, stats: inout Stats) throws {
        let header = try RecordBatchHeader(from: bytes, at: bytes.readerIndex)
        guard output.size + bytes.readableBytes <= Int(Int32.max) else {
            throw StorageError(.batchTooLarge, "\(log.topicPartition): a cleaned segment would pass \(Int32.max) bytes")
        }
        let head = bytes.getSlice(at: bytes.readerIndex, length: 16)!
        let body = bytes.getSlice(at: bytes.readerIndex + 16, length: bytes.readableBytes - 16)!
        try output.append(head: head, body: body, header: header, now: now)
        stats.bytesWritten += bytes.readableBytes
        throttler.account(bytes.readableBytes, shouldStop: shouldStop)
    }

    // MARK: Reading segments

    /// Calls `visit` with every batch of `segment`, validated, from its own file. Returns nil
    /// if the round must be abandoned (the segment's file is gone, the log changed or the
    /// cleaner stops); throws `CorruptSegment` for bytes that are not valid batches.
    private func scan(
        _ segment: PartitionLog.CleanableSegment, bytesRead: inout Int, visit: (RecordBatch) throws -> Bool
    ) throws -> SegmentScanner.Stop? {
        guard !shouldStop(), !log.cleaningIsStale(since: snapshot.generation) else { return nil }
        let file: LogFile
        do {
            file = try LogFile(path: segment.logPath, create: false)
        } catch {
            // Retention or truncation removed the segment since the snapshot.
            return nil
        }
        var visitError: (any Error)?
        var abandoned = false
        var read = 0
        defer { bytesRead += read }
        let stop = try SegmentScanner.scan(file, from: 0, to: segment.size, validate: true) { scanned throws(StorageError) in
            read += scanned.header.totalSize
            throttler.account(scanned.header.totalSize, shouldStop: shouldStop)
            if shouldStop() {
                abandoned = true
                return false
            }
            do {
                return try visit(scanned.validated!)
            } catch {
                visitError = error
                return false
            }
        }
        if let visitError { throw visitError }
        if abandoned || log.cleaningIsStale(since: snapshot.generation) { return nil }
        if case .invalidBatch(let position, let reason) = stop {
            throw CorruptSegment(description: "\(segment.logPath) at byte \(position): \(reason)")
        }
        return stop
    }

    // MARK: Grouping

    /// Consecutive segments whose cleaned copy fits in one segment (Kafka's
    /// `groupSegmentsBySize`): at most `maxBytes` of input, and offsets a segment can address
    /// (32-bit relative offsets).
    static func groupBySize(_ segments: [PartitionLog.CleanableSegment], maxBytes: Int) -> [[PartitionLog.CleanableSegment]] {
        var groups: [[PartitionLog.CleanableSegment]] = []
        var current: [PartitionLog.CleanableSegment] = []
        var bytes = 0
        for segment in segments {
            if let first = current.first,
               bytes + segment.size > maxBytes || segment.nextOffset - 1 - first.baseOffset > Int64(UInt32.max)
            {
                groups.append(current)
                current = []
                bytes = 0
            }
            current.append(segment)
            bytes += segment.size
        }
        if !current.isEmpty { groups.append(current) }
        return groups
    }

    /// Removes a group's unfinished output (an abandoned round, or one a failure cut short).
    static func removeCleanedFiles(directory: String, baseOffset: Int64) {
        let stem = directory + "/" + LogSegment.fileName(baseOffset: baseOffset, suffix: "")
        for suffix in [".log", ".index", ".timeindex"] { try? FileSystem.remove(stem + suffix + SegmentSwap.cleanedSuffix) }
    }
}
