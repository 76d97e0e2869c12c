/// The broker's log cleaner settings (Kafka's `log.cleaner.*` names and defaults).
public struct CleanerConfig: Sendable, Equatable {
    /// `log.cleaner.enable`: with it off, compacted topics are accepted and only grow.
    public var enabled = true
    /// `log.cleaner.threads`: partitions cleaned at once (0 runs no cleaner).
    public var threads = 1
    /// `log.cleaner.dedupe.buffer.size`: memory for the key → offset maps of all threads; a
    /// round covers as many dirty keys as its share holds (24 bytes a key) and the next round
    /// goes on from there.
    public var dedupeBufferBytes = 134_217_728
    /// `log.cleaner.io.buffer.load.factor`: how full a map may get.
    public var loadFactor = 0.9
    /// `log.cleaner.io.max.bytes.per.second`: bytes read plus written by all threads.
    public var maxIOBytesPerSecond = Double.greatestFiniteMagnitude
    /// `log.cleaner.backoff.ms`: how long a thread sleeps when no partition needs cleaning.
    public var backoffMs: Int64 = 15_000

    public init() {}

    /// Memory of one thread's map: its share of the buffer, at most 2 GiB − 1 as Kafka caps it.
    public var mapBytesPerThread: Int { min(dedupeBufferBytes / max(threads, 1), Int(Int32.max)) }

    public var runsCleaner: Bool { enabled && threads > 0 }
}
