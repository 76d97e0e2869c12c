/// How much of a compacted partition a cleaner round may clean, and whether it should (Kafka's
/// `LogCleanerManager.cleanableOffsets` and `LogToClean`). Pure: a snapshot and a clock in.
///
/// The log splits in three: the clean section [start, firstDirty) that earlier rounds left
/// with one record per key (firstDirty is the cleaner's checkpoint), the dirty section
/// [firstDirty, firstUncleanable) and the rest, never touched: the active segment, any
/// segment the high watermark cuts through (a follower may still truncate it) and any segment
/// with a record younger than `min.compaction.lag.ms`.
struct LogToClean: Equatable {
    var firstDirtyOffset: Int64
    /// A segment base offset: the dirty section ends at a segment boundary.
    var firstUncleanableOffset: Int64
    var cleanBytes: Int
    var cleanableBytes: Int
    /// A dirty record is older than `max.compaction.lag.ms`: clean whatever the ratio.
    var needsCompactionNow: Bool
    var minCleanableRatio: Double

    var cleanableRatio: Double {
        cleanBytes + cleanableBytes == 0 ? 0 : Double(cleanableBytes) / Double(cleanBytes + cleanableBytes)
    }

    var isEligible: Bool { (needsCompactionNow && cleanableBytes > 0) || cleanableRatio > minCleanableRatio }

    /// - checkpoint: where the last round stopped (nil: never cleaned); one outside the log
    ///   (truncated, records deleted) restarts from the log start.
    /// - firstBatchTimestamp: the first batch's timestamp of a segment, read only when
    ///   `max.compaction.lag.ms` is set.
    init?(
        _ snapshot: PartitionLog.CleaningSnapshot, checkpoint: Int64?, now: Int64,
        firstBatchTimestamp: (PartitionLog.CleanableSegment) -> Int64?
    ) {
        let config = snapshot.config
        guard config.cleanupPolicy.contains(.compact), !snapshot.segments.isEmpty else { return nil }
        var firstDirty = checkpoint ?? snapshot.logStartOffset
        if let truncated = snapshot.truncatedSinceCleaning { firstDirty = min(firstDirty, truncated) }
        if firstDirty < snapshot.logStartOffset || firstDirty > snapshot.logEndOffset { firstDirty = snapshot.logStartOffset }
        var uncleanable = min(snapshot.activeBaseOffset, snapshot.highWatermark)
        if config.minCompactionLagMs > 0,
           let young = snapshot.segments.first(where: { $0.nextOffset > firstDirty && $0.maxTimestamp > now - config.minCompactionLagMs })
        {
            uncleanable = min(uncleanable, young.baseOffset)
        }
        // The segment holding `uncleanable` is not cleaned at all.
        let holding = snapshot.segments.last(where: { $0.baseOffset <= uncleanable })
        let firstUncleanable = holding.map { $0.nextOffset > uncleanable || $0.nextOffset == $0.baseOffset ? $0.baseOffset : $0.nextOffset }
            ?? snapshot.segments[0].baseOffset
        let dirty = snapshot.segments.filter { $0.nextOffset > firstDirty && $0.baseOffset < firstUncleanable }
        guard !dirty.isEmpty else { return nil }
        firstDirtyOffset = firstDirty
        firstUncleanableOffset = max(firstUncleanable, firstDirty)
        cleanBytes = snapshot.segments.filter { $0.nextOffset <= firstDirty }.reduce(0) { $0 + $1.size }
        cleanableBytes = dirty.reduce(0) { $0 + $1.size }
        minCleanableRatio = config.minCleanableDirtyRatio
        needsCompactionNow = config.maxCompactionLagMs < Int64.max && dirty.contains { segment in
            firstBatchTimestamp(segment).map { $0 >= 0 && $0 < now - config.maxCompactionLagMs } ?? false
        }
    }
}
