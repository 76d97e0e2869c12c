/// Opens a partition's segments at start-up (Kafka's LogLoader).
///
/// After a clean shutdown every segment loads from its indexes with no scan. Otherwise each
/// segment that may hold offsets at or above the recovery point is recovered: every batch is
/// validated, a torn or corrupt tail is cut and the indexes are rebuilt. A corrupt or missing
/// index is rebuilt from its log in either case, and a segment whose end does not chain from
/// its last index entry (a file cut short after a clean shutdown) is recovered too.
///
/// Damage never deletes acknowledged data. Kafka's loader deletes every segment after a
/// damaged one so that the log stays contiguous; this one cuts only the damaged segment, at its
/// last valid batch, and keeps the later segments, so the log may skip offsets, as a compacted
/// Kafka log does (a fetch from a missing offset gets the next batch). The cut bytes are moved
/// to a `.corrupt` file that is never loaded or deleted (SegmentDamage), and every cut is
/// reported in `Loaded.damage` for the broker to log as an error.
///
/// A recovery point past the end of the loaded log (a checkpoint that claims more is durable
/// than the files hold: files lost or replaced) is not trusted: after an unclean shutdown every
/// segment is then recovered, not only those from the recovery point on, and a warning says so.
/// Kafka only lowers the recovery point to the log end there, and would serve a damaged
/// segment below it unchecked.
///
/// Only the last segment is left open; the loader closes the others once loaded (they reopen
/// on first read, see LogSegment), after fsyncing those it recovered.
enum LogLoader {
    struct Loaded {
        var segments: [LogSegment]
        /// Bytes cut by recovery (and moved to `.corrupt` files), for the start-up log line.
        var truncatedBytes: Int
        var recoveredSegments: Int
        /// Every cut, segment by segment.
        var damage: [SegmentDamage]
        /// Set when the recovery point was past the log end and everything was recovered.
        var distrustedRecoveryPoint: Int64?
        /// Log cleaner swaps finished or discarded before loading (`SegmentSwap`).
        var swapNotes: [String] = []
    }

    static func load(
        directory: String, config: LogConfig, recoveryPoint: Int64, logStartOffset: Int64, hadCleanShutdown: Bool
    ) throws(StorageError) -> Loaded {
        try FileSystem.makeDirectory(directory)
        // A log cleaner swap a crash interrupted is finished (or its unfinished output dropped)
        // before anything is loaded; segments that came from a swap are recovered in full.
        let swaps = try SegmentSwap.recoverInterrupted(directory: directory)
        var loaded = try loadSegments(
            directory: directory, config: config, recoveryPoint: recoveryPoint, logStartOffset: logStartOffset,
            hadCleanShutdown: hadCleanShutdown, forceRecover: swaps.forceRecover)
        loaded.swapNotes = swaps.notes
        guard !hadCleanShutdown, let end = loaded.segments.last?.nextOffset, end < recoveryPoint,
              loaded.recoveredSegments < loaded.segments.count
        else { return loaded }
        for segment in loaded.segments { segment.closeFiles() }
        var everything = try loadSegments(
            directory: directory, config: config, recoveryPoint: Int64.min, logStartOffset: logStartOffset, hadCleanShutdown: false,
            forceRecover: swaps.forceRecover)
        everything.swapNotes = swaps.notes
        // The first pass's cuts are on disk already; the second pass saw the files after them.
        everything.damage = loaded.damage + everything.damage
        everything.truncatedBytes += loaded.truncatedBytes
        everything.distrustedRecoveryPoint = recoveryPoint
        return everything
    }

    private static func loadSegments(
        directory: String, config: LogConfig, recoveryPoint: Int64, logStartOffset: Int64, hadCleanShutdown: Bool, forceRecover: Set<Int64>
    ) throws(StorageError) -> Loaded {
        var baseOffsets: [Int64] = []
        for name in try FileSystem.listDirectory(directory) {
            let path = directory + "/" + name
            if name.hasSuffix(".tmp") || name.hasSuffix(".deleted") {
                try FileSystem.remove(path)  // left by an interrupted checkpoint write or deletion
            } else if name.hasSuffix(".log"), let base = LogSegment.baseOffset(fromStem: name.dropLast(4)) {
                baseOffsets.append(base)
            }
        }
        // Index and trace files whose log is gone are stale.
        for name in try FileSystem.listDirectory(directory)
        where name.hasSuffix(".index") || name.hasSuffix(".timeindex") || name.hasSuffix(TraceSidecar.fileSuffix) {
            let stem = name.hasSuffix(".index") ? name.dropLast(6) : name.hasSuffix(".timeindex") ? name.dropLast(10) : name.dropLast(6)
            if let base = LogSegment.baseOffset(fromStem: stem), !baseOffsets.contains(base) { try FileSystem.remove(directory + "/" + name) }
        }
        baseOffsets.sort()
        if baseOffsets.isEmpty { baseOffsets = [max(0, logStartOffset)] }

        var loaded = Loaded(segments: [], truncatedBytes: 0, recoveredSegments: 0, damage: [])
        for (index, base) in baseOffsets.enumerated() {
            let nextBase = index + 1 < baseOffsets.count ? baseOffsets[index + 1] : Int64.max
            // A segment that starts inside the offsets already loaded cannot be served next to
            // them: it is moved aside whole (and reported), never deleted.
            if let previous = loaded.segments.last, base < previous.nextOffset {
                let damage = try moveSegmentAside(directory: directory, baseOffset: base, overlapping: previous)
                loaded.damage.append(damage)
                loaded.truncatedBytes += damage.bytes
                continue
            }
            let recover = (!hadCleanShutdown && nextBase > recoveryPoint) || forceRecover.contains(base)
            let segment = try LogSegment(
                directory: directory, baseOffset: base, config: config, recover: recover, checkIndexEntries: !hadCleanShutdown)
            if recover { loaded.recoveredSegments += 1 }
            if segment.damage != nil {
                if nextBase != Int64.max { segment.noteLostOffsets(end: nextBase) }
                loaded.damage.append(segment.damage!)
                loaded.truncatedBytes += segment.truncatedBytesAtRecovery
            }
            // What recovery validated or cut is made durable before the files close (a closed
            // segment is never fsynced again).
            if segment.wasRecovered { try segment.sync() }
            loaded.segments.append(segment)
            if index + 1 < baseOffsets.count { segment.closeFiles() }
        }
        try loaded.segments.last?.openFiles()
        return loaded
    }

    /// Renames a whole segment's `.log` to a `.corrupt` file (its indexes, derived data, go).
    private static func moveSegmentAside(directory: String, baseOffset: Int64, overlapping previous: LogSegment) throws(StorageError) -> SegmentDamage {
        let stem = directory + "/" + LogSegment.fileName(baseOffset: baseOffset, suffix: "")
        let logPath = stem + ".log"
        let size = try LogFile(path: logPath, create: false).size()
        let corruptPath = SegmentDamage.corruptPath(for: logPath, now: PartitionLog.wallClockMilliseconds())
        try FileSystem.rename(logPath, to: corruptPath)
        try FileSystem.remove(stem + ".index")
        try FileSystem.remove(stem + ".timeindex")
        try FileSystem.syncDirectory(directory)
        return SegmentDamage(
            logPath: logPath, position: 0, bytes: size, firstLostOffset: baseOffset, lostOffsetsEnd: nil, corruptPath: corruptPath,
            reason: "the segment starts at offset \(baseOffset), inside the previous segment (which ends at \(previous.nextOffset - 1))")
    }
}
