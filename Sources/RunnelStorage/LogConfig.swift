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

    public init() {}

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
        return self
    }
}
