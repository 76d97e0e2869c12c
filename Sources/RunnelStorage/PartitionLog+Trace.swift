import RunnelProtocol

extension PartitionLog {
    /// The batch holding `offset` (or, when that record is gone, the first batch after it)
    /// with its trace if the sidecar has one that matches it; nil when no batch is at or after
    /// `offset`. The sidecar is read after the lock is released.
    public func trace(at offset: Int64) throws(StorageError) -> (batch: RecordBatchHeader, trace: BatchTrace?)? {
        let found: (RecordBatchHeader, TraceSidecar.Snapshot)? = try state.withLock { state throws(StorageError) in
            try checkAvailable(state, closedIsFine: true)
            guard offset >= state.logStartOffset, offset < state.logEndOffset else {
                throw StorageError(
                    .offsetOutOfRange, "offset \(offset) is outside [\(state.logStartOffset), \(state.logEndOffset)) of \(topicPartition)")
            }
            let index = Self.segmentIndex(holding: offset, in: state.segments)
            for segment in state.segments[index...] where segment.size > 0 && segment.nextOffset > offset {
                if let batch = try segment.position(of: offset) { return (batch.header, segment.traceSnapshot) }
            }
            return nil
        }
        guard let (header, snapshot) = found else { return nil }
        return (header, TraceSidecar.lookup(header, in: snapshot))
    }
}
