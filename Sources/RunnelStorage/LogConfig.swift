import RunnelProtocol

/// The per-partition settings of the log, with Kafka's topic-config names and defaults.
public struct LogConfig: Sendable, Equatable {
    /// `segment.bytes`: roll the active segment before it would pass this size.
    public var segmentBytes = 1024 * 1024 * 1024
    /// `segment.ms`: roll the active segment once its first append is this old.
    public var segmentMs: Int64 = 7 * 24 * 60 * 60 * 1000
    /// `segment.index.bytes`: the size each index file is preallocated to; a full index rolls.
    public var maxIndexBytes = 10 * 1024 * 1024
    /// `index.interval.bytes`: bytes of batches between two sparse index entries.
    public var indexIntervalBytes = 4096
    /// `retention.ms`: delete segments whose newest record is older; -1 keeps them forever.
    public var retentionMs: Int64 = 7 * 24 * 60 * 60 * 1000
    /// `retention.bytes`: delete the oldest segments while the log is larger; -1 has no limit.
    public var retentionBytes: Int64 = -1
    /// `flush.messages`: fsync after this many records. 1 means every append is fsynced before
    /// it is acknowledged; appends that arrive while an fsync runs share the next (group commit).
    public var flushMessages: Int64 = Int64.max
    /// `flush.ms`: fsync once unflushed data is this old.
    public var flushMs: Int64 = Int64.max
    /// `cleanup.policy`: retention deletes old segments (`delete`), the log cleaner keeps the
    /// last record of every key (`compact`), or both.
    public var cleanupPolicy: CleanupPolicy = .delete
    /// `min.cleanable.dirty.ratio`: the share of the log not yet cleaned at which the cleaner
    /// takes the partition.
    public var minCleanableDirtyRatio = 0.5
    /// `min.compaction.lag.ms`: a record stays uncompacted at least this long.
    public var minCompactionLagMs: Int64 = 0
    /// `max.compaction.lag.ms`: a record older than this makes its segment eligible whatever
    /// the dirty ratio (and rolls the active segment, see `rollMs`).
    public var maxCompactionLagMs: Int64 = Int64.max
    /// `delete.retention.ms`: how long a tombstone stays once the cleaner first kept it, so a
    /// consumer reading from the start sees the delete.
    public var deleteRetentionMs: Int64 = 86_400_000

    public init() {}

    /// The age at which the active segment rolls: `segment.ms`, or sooner on a compacted topic
    /// with a `max.compaction.lag.ms`, whose records must leave the (never cleaned) active
    /// segment in time (Kafka's `LogConfig.maxSegmentMs`).
    public var rollMs: Int64 {
        cleanupPolicy.contains(.compact) && maxCompactionLagMs > 0 ? min(maxCompactionLagMs, segmentMs) : segmentMs
    }

    /// Every append waits for an fsync before it is acknowledged.
    public var syncsBeforeAcknowledge: Bool { flushMessages <= 1 }

    public func validated() throws(StorageError) -> LogConfig {
        guard segmentBytes >= RecordBatchHeader.size, segmentBytes <= Int(Int32.max) else {
            throw StorageError(.invalidConfig, "segment.bytes \(segmentBytes) must be between 61 and \(Int32.max)")
        }
        guard segmentMs > 0 else { throw StorageError(.invalidConfig, "segment.ms must be positive") }
        guard maxIndexBytes >= 12 else { throw StorageError(.invalidConfig, "segment.index.bytes must hold an entry") }
        guard indexIntervalBytes >= 0 else { throw StorageError(.invalidConfig, "index.interval.bytes must not be negative") }
        guard retentionMs >= -1, retentionBytes >= -1 else {
            throw StorageError(.invalidConfig, "retention.ms and retention.bytes must be -1 or more")
        }
        guard flushMessages >= 1, flushMs >= 0 else {
            throw StorageError(.invalidConfig, "flush.messages must be at least 1 and flush.ms not negative")
        }
        guard !cleanupPolicy.isEmpty else { throw StorageError(.invalidConfig, "cleanup.policy must name delete, compact or both") }
        guard minCleanableDirtyRatio >= 0, minCleanableDirtyRatio <= 1 else {
            throw StorageError(.invalidConfig, "min.cleanable.dirty.ratio must be between 0 and 1")
        }
        guard minCompactionLagMs >= 0, maxCompactionLagMs >= 1, minCompactionLagMs <= maxCompactionLagMs, deleteRetentionMs >= 0 else {
            throw StorageError(
                .invalidConfig, "min.compaction.lag.ms must be between 0 and max.compaction.lag.ms (at least 1); delete.retention.ms not negative")
        }
        return self
    }
}

/// `cleanup.policy`'s values.
public struct CleanupPolicy: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let delete = CleanupPolicy(rawValue: 1)
    public static let compact = CleanupPolicy(rawValue: 2)

    /// Parses Kafka's list form (`delete`, `compact`, `compact,delete`); nil for anything else.
    public init?(listing text: String) {
        var policy: CleanupPolicy = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let word = item.drop { $0 == " " }
            switch word.dropLast(word.reversed().prefix { $0 == " " }.count) {
            case "delete": policy.insert(.delete)
            case "compact": policy.insert(.compact)
            default: return nil
            }
        }
        guard !policy.isEmpty else { return nil }
        self = policy
    }
}
