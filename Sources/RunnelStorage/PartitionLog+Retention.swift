extension PartitionLog {
    /// Deletes whole segments past `retention.ms` or beyond `retention.bytes` (with the `delete`
    /// cleanup policy only), and those entirely below the log start offset (whatever the
    /// policy, as Kafka); never the active segment. Returns how many went.
    @discardableResult
    public func applyRetention(now: Int64) throws(StorageError) -> Int {
        try state.withLock { state throws(StorageError) in
            var deleted = 0
            var totalSize = state.segments.reduce(0) { $0 + Int64($1.size) }
            let deletes = state.config.cleanupPolicy.contains(.delete)
            while state.segments.count > 1 {
                let oldest = state.segments[0]
                let expired = deletes && (state.config.retentionMs >= 0 && oldest.maxTimestamp >= 0
                    ? now - oldest.maxTimestamp > state.config.retentionMs
                    : state.config.retentionMs >= 0 && oldest.size == 0)
                let oversize = deletes && state.config.retentionBytes >= 0 && totalSize - Int64(oldest.size) >= state.config.retentionBytes
                let belowStart = oldest.nextOffset <= state.logStartOffset && state.segments[1].baseOffset <= state.logStartOffset
                guard expired || oversize || belowStart else { break }
                try oldest.deleteFiles()
                state.segments.removeFirst()
                totalSize -= Int64(oldest.size)
                deleted += 1
            }
            if deleted > 0 { try advanceLogStart(&state, to: state.segments[0].baseOffset) }
            return deleted
        }
    }

    /// DeleteRecords: moves the log start offset up to `offset` (at most the high watermark);
    /// segments entirely below it go at the next retention pass. Returns the new log start.
    @discardableResult
    public func deleteRecords(before offset: Int64) throws(StorageError) -> Int64 {
        try state.withLock { state throws(StorageError) in
            guard offset <= state.highWatermark else {
                throw StorageError(.offsetOutOfRange, "offset \(offset) is above the high watermark \(state.highWatermark)")
            }
            if offset > state.logStartOffset { try advanceLogStart(&state, to: offset) }
            return state.logStartOffset
        }
    }

    private func advanceLogStart(_ state: inout State, to offset: Int64) throws(StorageError) {
        guard offset > state.logStartOffset else { return }
        state.logStartOffset = offset
        state.highWatermark = max(state.highWatermark, offset)
        state.recoveryPoint = max(state.recoveryPoint, offset)
        if state.leaderEpochs.truncate(fromStart: offset) { try state.leaderEpochs.write() }
    }

    /// Removes every offset at or above `offset` (a follower whose history diverged from the
    /// leader's). The log end becomes `offset` rounded down to a batch boundary. At or past the
    /// log end nothing is cut, but epochs starting there are still forgotten (a new leader may
    /// have assigned one at its log end that this log never got a batch of).
    public func truncate(to offset: Int64) throws(StorageError) {
        let cut: Int64? = try state.withLock { state throws(StorageError) -> Int64? in
            guard offset < state.logEndOffset else {
                if state.leaderEpochs.truncate(fromEnd: max(offset, state.logEndOffset)) { try state.leaderEpochs.write() }
                return nil
            }
            let target = max(offset, state.logStartOffset)
            state.generation += 1
            state.truncatedSinceCleaning = min(state.truncatedSinceCleaning ?? target, target)
            // Segments starting past the target go; one starting at it is emptied instead, so
            // the log end is the target even where the previous segment ends below it (offsets
            // a cleaner removed).
            while state.segments.count > 1, state.active.baseOffset > target {
                try state.active.deleteFiles()
                state.segments.removeLast()
            }
            try state.active.truncate(to: target)
            let end = state.logEndOffset
            state.producerState = try ProducerSnapshots.rebuild(
                directory: directory, segments: state.segments, logStartOffset: state.logStartOffset, logEndOffset: end)
            state.highWatermark = min(state.highWatermark, end)
            state.replicatedHighWatermark = min(state.replicatedHighWatermark, end)
            state.recoveryPoint = min(state.recoveryPoint, end)
            groupCommit.truncate(to: end)
            if state.leaderEpochs.truncate(fromEnd: end) { try state.leaderEpochs.write() }
            return target
        }
        if let cut, let observer = truncationObserver.withLock({ $0 }) { observer(self, cut) }
    }

    /// Empties the log and starts it again at `offset` (Kafka's truncateFullyAndStartAt): a
    /// follower whose log ends before its leader's log start can only continue from there.
    public func truncateFully(startingAt offset: Int64) throws(StorageError) {
        try state.withLock { state throws(StorageError) in
            try checkAvailable(state)
            state.generation += 1
            state.truncatedSinceCleaning = offset
            for segment in state.segments { try segment.deleteFiles() }
            for snapshot in try ProducerSnapshots.offsets(in: directory) {
                try FileSystem.remove(ProducerSnapshots.path(directory: directory, offset: snapshot))
            }
            state.segments = [try LogSegment(directory: directory, baseOffset: offset, config: state.config, recover: false)]
            state.logStartOffset = offset
            state.highWatermark = offset
            state.replicatedHighWatermark = offset
            state.recoveryPoint = offset
            state.unflushedMessages = 0
            state.producerState = ProducerState()
            groupCommit.truncate(to: offset)
            let emptied = state.leaderEpochs.truncate(fromEnd: 0)
            if emptied { try state.leaderEpochs.write() }
        }
        if let observer = truncationObserver.withLock({ $0 }) { observer(self, offset) }
    }

    /// Flushes everything, trims the active segment's indexes and refuses further appends.
    public func close() throws(StorageError) {
        // Flushes and snapshots still queued by appends run first. (Appends after this point
        // are the owner's bug: close is called once nothing appends any more.)
        groupCommit.drain()
        // An offline log must not write or fsync again: what is on disk is left for recovery.
        if isOffline {
            state.withLock { $0.isClosed = true }
            return
        }
        try flush()
        try state.withLock { state throws(StorageError) in
            guard !state.isClosed else { return }
            state.isClosed = true
            try state.active.becomeInactive()
            for file in state.active.filesToSync(includingIndexes: true) { try syncer.syncFile(file) }
            try ProducerSnapshots.write(state.producerState, at: state.logEndOffset, directory: directory)
        }
    }

    /// Closes the log and removes its directory (DeleteTopics).
    public func delete() throws(StorageError) {
        state.withLock { state in
            state.isClosed = true
            state.isDeleted = true
            state.generation += 1
        }
        // Flushes and snapshots queued before the deletion see `isDeleted` and do nothing.
        groupCommit.drain()
        try FileSystem.removeDirectory(directory)
    }
}
