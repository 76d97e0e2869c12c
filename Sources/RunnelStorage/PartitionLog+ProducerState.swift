import Synchronization

extension PartitionLog {
    /// Writes a roll's producer snapshot after the partition lock was released: the file is
    /// written and fsynced without the lock, and renamed into place under it only if the
    /// segment the roll started is still in the log. A truncation below the snapshot's offset
    /// (which deletes that segment, and the snapshots above the new end) may have run
    /// meanwhile; publishing then would leave a snapshot of a history the log no longer has.
    func writeProducerSnapshot(_ pending: PendingProducerSnapshot) throws(StorageError) {
        // A log closed or deleted since the roll writes nothing more in its directory.
        guard !state.withLock({ $0.isClosed }) else { return }
        let temporary = try ProducerSnapshots.writeTemporary(pending.state, at: pending.offset, directory: directory)
        let published = try state.withLock { state throws(StorageError) -> Bool in
            guard !state.isClosed, state.segments.contains(where: { $0 === pending.segment }) else { return false }
            try ProducerSnapshots.publish(temporary, at: pending.offset, directory: directory)
            return true
        }
        guard published else {
            try? FileSystem.remove(temporary)
            return
        }
        try ProducerSnapshots.finishPublishing(directory: directory)
    }

    /// `writeProducerSnapshot` for a roll inside an append. The append has already succeeded
    /// (the batch is in the new segment), so a failed snapshot must not turn it into an error
    /// the producer would retry (a duplicate for a non-idempotent one). A missing snapshot
    /// costs only time: start-up replays the batches after the previous one.
    func writeRolledSnapshot(_ pending: PendingProducerSnapshot) {
        do {
            try writeProducerSnapshot(pending)
        } catch {
            producerSnapshotFailures.add(1, ordering: .relaxed)
        }
    }

    /// Forgets the producers whose latest batch is `expirationMs` or older at `now`
    /// (`producer.id.expiration.ms`). Returns how many were removed.
    @discardableResult
    public func removeExpiredProducers(now: Int64, expirationMs: Int64) -> Int {
        state.withLock { $0.producerState.removeExpired(now: now, expirationMs: expirationMs) }
    }

    /// How many roll snapshots failed since the last call (for the broker to log them).
    public func takeProducerSnapshotFailures() -> Int {
        producerSnapshotFailures.exchange(0, ordering: .relaxed)
    }

    /// How many producers the partition remembers.
    public var producerCount: Int { state.withLock { $0.producerState.producerCount } }
}
