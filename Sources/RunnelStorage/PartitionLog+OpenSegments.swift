extension PartitionLog {
    /// Closes the files of inactive segments that were not used since the last sweep, so open
    /// descriptors and index memory follow the segments in use, not the segments on disk.
    /// The maintenance schedule calls it (LogManager.runMaintenance); a segment read once thus
    /// stays open for one to two sweep intervals after its last use.
    ///
    /// Only durable segments close (see LogSegment): an idle rolled segment that is still above
    /// the recovery point is flushed first, as Kafka flushes a log up to a new segment after a
    /// roll. A failed flush leaves everything open (and its directory offline, see `flush`).
    /// Returns how many segments were closed.
    @discardableResult
    public func closeIdleSegments() throws(StorageError) -> Int {
        let needsFlush = state.withLock { state in
            !state.isClosed && state.segments.dropLast().contains { $0.isOpen && $0.nextOffset > state.recoveryPoint }
        }
        if needsFlush { try flush() }
        return state.withLock { state in
            var closed = 0
            // Never the active segment: appends go there.
            for segment in state.segments.dropLast() where segment.nextOffset <= state.recoveryPoint {
                if segment.closeIfIdle() { closed += 1 }
            }
            return closed
        }
    }

    /// How many segments have their files open (the active one plus those read recently).
    public var openSegmentCount: Int { state.withLock { $0.segments.filter(\.isOpen).count } }
}
