/// What the log cleaner reads of a partition and how it swaps its output in.
///
/// The cleaner takes the partition's lock twice per group of segments, for memory work and
/// renames only: once to copy what it needs (`cleaningSnapshot`), and once to put the cleaned
/// segment in place of the ones it was made from (`replaceWithCleaned`). Reading the old
/// segments and writing the new one happen with no lock held, so appends, fetches and sendfile
/// never wait for cleaner I/O; the swap's renames and three directory fsyncs (a few ms) do run
/// under the lock, as Kafka's `replaceSegments` runs under its log lock.
extension PartitionLog {
    /// One inactive segment as the cleaner sees it. `segment` is for identity checks only: the
    /// cleaner never calls it (it is not thread-safe) and reads `logPath` with its own file.
    struct CleanableSegment {
        let segment: LogSegment
        let baseOffset: Int64
        let size: Int
        let nextOffset: Int64
        let maxTimestamp: Int64
        let logPath: String
    }

    /// The partition as one cleaner round starts from.
    struct CleaningSnapshot {
        var config: LogConfig
        /// Every segment but the active one, oldest first.
        var segments: [CleanableSegment]
        var logStartOffset: Int64
        var logEndOffset: Int64
        var highWatermark: Int64
        var activeBaseOffset: Int64
        /// Last offsets of the producers' latest batches, which stay (see ProducerState).
        var producerBatchEnds: Set<Int64>
        /// Where each leader epoch starts: the batch there stays, so a leader epoch cache
        /// rebuilt from the segments equals the one kept in `leader-epoch-checkpoint`.
        var epochStarts: Set<Int64>
        var generation: Int
        /// See `State.truncatedSinceCleaning`: the dirty section starts here at the latest.
        var truncatedSinceCleaning: Int64?
    }

    func cleaningSnapshot() -> CleaningSnapshot? {
        state.withLock { state in
            guard !state.isClosed, !state.isDeleted else { return nil }
            return CleaningSnapshot(
                config: state.config,
                segments: state.segments.dropLast().map {
                    CleanableSegment(
                        segment: $0, baseOffset: $0.baseOffset, size: $0.size, nextOffset: $0.nextOffset, maxTimestamp: $0.maxTimestamp,
                        logPath: $0.logPath)
                },
                logStartOffset: state.logStartOffset, logEndOffset: state.logEndOffset, highWatermark: state.highWatermark,
                activeBaseOffset: state.active.baseOffset, producerBatchEnds: state.producerState.lastBatchEndOffsets,
                epochStarts: Set(state.leaderEpochs.entries.map(\.startOffset)), generation: state.generation,
                truncatedSinceCleaning: state.truncatedSinceCleaning)
        }
    }

    /// The cleaner recorded a checkpoint from a snapshot of `generation`: truncations before
    /// that snapshot are accounted for.
    func clearCleanerTruncationMark(ifGeneration generation: Int) {
        state.withLock { state in
            if state.generation == generation { state.truncatedSinceCleaning = nil }
        }
    }

    /// Whether a cleaner working from a snapshot of `generation` should stop: the log was
    /// truncated, emptied, deleted or closed since.
    func cleaningIsStale(since generation: Int) -> Bool {
        state.withLock { $0.isClosed || $0.isDeleted || $0.generation != generation }
    }

    /// Puts `cleaned` (written and fsynced under `.cleaned` names) in place of `originals`, which
    /// must still be consecutive inactive segments of the log at `generation`. Returns false,
    /// touching nothing, when the log changed meanwhile (the caller discards its output).
    ///
    /// On disk (SegmentSwap tells how loading finishes or undoes each step after a crash):
    /// `.log.cleaned` → `.log.swap`, directory fsync (the commit point); the originals' files
    /// removed (the first one's `.log` is replaced by the rename below), directory fsync; the
    /// cleaned indexes and then `.log.swap` renamed to the live names, directory fsync. An I/O
    /// error on the way takes the data directory offline: the next start completes the swap.
    func replaceWithCleaned(
        _ originals: [LogSegment], by cleaned: LogSegment, generation: Int, failpoint: (String) throws -> Void
    ) throws -> Bool {
        try state.withLock { state throws -> Bool in
            guard !state.isClosed, !state.isDeleted, state.generation == generation,
                  let first = state.segments.firstIndex(where: { $0 === originals[0] }),
                  first + originals.count < state.segments.count,
                  zip(state.segments[first..<(first + originals.count)], originals).allSatisfy({ $0 === $1 })
            else { return false }
            try checkAvailable(state)
            let base = cleaned.baseOffset
            let stem = cleaned.stem
            do {
                try failpoint("cleaner-before-swap")
                try FileSystem.rename(cleaned.logPath, to: stem + ".log" + SegmentSwap.swapSuffix)
                try syncer.syncDirectory(directory)
                try failpoint("cleaner-after-swap")
                for segment in originals {
                    if segment.baseOffset != base { try FileSystem.remove(segment.logPath) }
                    try FileSystem.remove(segment.stem + ".index")
                    try FileSystem.remove(segment.stem + ".timeindex")
                    // The cleaner rewrote these batches: their traces no longer match anything.
                    try FileSystem.remove(segment.stem + TraceSidecar.fileSuffix)
                }
                try syncer.syncDirectory(directory)
                try failpoint("cleaner-after-delete")
                try FileSystem.rename(stem + ".index" + SegmentSwap.cleanedSuffix, to: stem + ".index")
                try FileSystem.rename(stem + ".timeindex" + SegmentSwap.cleanedSuffix, to: stem + ".timeindex")
                try FileSystem.rename(stem + ".log" + SegmentSwap.swapSuffix, to: stem + ".log")
                try syncer.syncDirectory(directory)
            } catch {
                let reason = "log cleaner swap in \(directory) failed: \(error)"
                directoryFailures.markOffline(dataDirectory, reason: reason)
                throw StorageError(.logDirectoryOffline, reason)
            }
            // The indexes were built as the segment was written: loading reads only the bytes
            // after the last index entry.
            let replacement: LogSegment
            do {
                replacement = try LogSegment(directory: directory, baseOffset: base, config: state.config, recover: false)
            } catch {
                // The old segments' files are gone: this process cannot serve the range any
                // more, the next start loads the cleaned segment from disk.
                let reason = "opening the cleaned segment \(stem).log failed: \(error)"
                directoryFailures.markOffline(dataDirectory, reason: reason)
                throw StorageError(.logDirectoryOffline, reason)
            }
            state.segments.replaceSubrange(first..<(first + originals.count), with: [replacement])
            return true
        }
    }
}
