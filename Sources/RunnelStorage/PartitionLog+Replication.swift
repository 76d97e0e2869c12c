import RunnelProtocol

/// What a follower replica, and a leader taking over, need of the log (KIP-101, KIP-279).
extension PartitionLog {
    /// Appends a batch exactly as the leader wrote it: its offsets and leader epoch are kept,
    /// not assigned (a follower's log must be a byte-for-byte prefix of its leader's). The
    /// batch must start at or after this log's end: a compacted leader's log skips offsets the
    /// cleaner removed, as Kafka allows; it may never go back. Producer state is updated but not checked (the
    /// leader checked it), and no size limit but the segment's applies (the leader accepted
    /// it) — Kafka's appendAsFollower.
    public func appendAsFollower(_ batch: RecordBatch) throws -> AppendResult {
        let now = clock()
        var rolled: PendingProducerSnapshot?
        defer { if let rolled { groupCommit.enqueue { [self] in writeRolledSnapshot(rolled) } } }
        let (result, flushDue): (AppendResult, Bool) = try state.withLock { state in
            try checkAvailable(state)
            guard batch.header.baseOffset >= state.logEndOffset else {
                throw StorageError(
                    .offsetOutOfRange,
                    "\(topicPartition): a follower append must start at or after the log end \(state.logEndOffset), not at \(batch.header.baseOffset)")
            }
            return try write(
                batch, at: batch.header.baseOffset, leaderEpoch: batch.header.partitionLeaderEpoch, into: &state, now: now, rolled: &rolled)
        }
        if flushDue { groupCommit.enqueue { [self] in _ = try? flush() } }
        return result
    }

    /// A new leader's epoch starts at its log end (Kafka's maybeAssignEpochStartOffset): so a
    /// follower asking where an older epoch ended is told the truth even before the first
    /// append of this epoch.
    public func assignEpochStart(_ epoch: Int32) throws(StorageError) {
        try state.withLock { state throws(StorageError) in
            try checkAvailable(state)
            if state.leaderEpochs.assign(epoch: epoch, startOffset: state.logEndOffset) { try state.leaderEpochs.write() }
        }
    }

    /// A follower takes its leader's high watermark, capped by its own log end. Unlike a
    /// leader's, it may go down (after a truncation the leader's word is all there is).
    public func setFollowerHighWatermark(_ offset: Int64) {
        state.withLock { state in
            let wanted = min(max(offset, state.logStartOffset), state.logEndOffset)
            state.replicatedHighWatermark = wanted
            state.highWatermark = wanted
        }
    }
}
