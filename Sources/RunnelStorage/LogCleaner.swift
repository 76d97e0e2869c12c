import Foundation
import RunnelProtocol
import Synchronization

/// The log cleaner: `log.cleaner.threads` threads that keep compacted partitions
/// (`cleanup.policy` with `compact`) down to the last record per key (Kafka's `LogCleaner` and
/// `LogCleanerManager`).
///
/// Each thread takes the filthiest eligible partition (largest share of dirty bytes, see
/// LogToClean) that no other thread has, runs one `CleanerRound` on it, and records where the
/// round stopped in the data directory's `cleaner-offset-checkpoint`; with nothing to do it
/// sleeps `log.cleaner.backoff.ms`. A partition whose segments do not read back as valid
/// batches is left alone until restart and reported.
///
/// Threads are Foundation threads, never an event loop or the cooperative pool: a round reads
/// and writes whole segments. Concurrency: `state` (a mutex) holds the checkpoints, the
/// partitions in progress and the uncleanable ones; `wakeup` lets shutdown end a sleep.
public final class LogCleaner: Sendable {
    /// What a round did or why one failed, for the broker's log and metrics.
    public enum Event: Sendable {
        case cleaned(TopicPartition, summary: String, figures: RoundFigures)
        case failed(TopicPartition, reason: String)
        case checkpointFailed(directory: String, reason: String)
    }

    /// One finished round's figures (Kafka's cleaner metrics count the same).
    public struct RoundFigures: Sendable {
        public var bytesRead: Int
        public var bytesWritten: Int
        public var recordsRead: Int
        public var recordsKept: Int
        public var seconds: Double
    }

    private struct State {
        var checkpoints: [String: [TopicPartition: Int64]] = [:]
        var inProgress: Set<TopicPartition> = []
        var uncleanable: Set<TopicPartition> = []
        var stopping = false
    }

    static let checkpointName = "cleaner-offset-checkpoint"

    private let config: CleanerConfig
    private let logs: @Sendable () -> [PartitionLog]
    private let clock: @Sendable () -> Int64
    private let onEvent: @Sendable (Event) -> Void
    private let failpoint: @Sendable (String) throws -> Void
    private let throttler: CleanerThrottler
    private let state = Mutex(State())
    /// Serializes checkpoint file writes (see `writeCheckpoint`).
    private let checkpointWrites = Mutex<Void>(())
    private let wakeup = NSCondition()
    private let exited = DispatchGroup()

    /// Reads each data directory's checkpoint (an unreadable one counts as empty: everything
    /// is cleaned again, which is safe).
    init(
        config: CleanerConfig, directories: [String], logs: @escaping @Sendable () -> [PartitionLog],
        clock: @escaping @Sendable () -> Int64, failpoint: @escaping @Sendable (String) throws -> Void = Failpoint.processKill,
        onEvent: @escaping @Sendable (Event) -> Void
    ) {
        self.config = config
        self.logs = logs
        self.clock = clock
        self.onEvent = onEvent
        self.failpoint = failpoint
        throttler = CleanerThrottler(bytesPerSecond: config.maxIOBytesPerSecond)
        var checkpoints: [String: [TopicPartition: Int64]] = [:]
        for directory in directories {
            checkpoints[directory] = (try? OffsetCheckpointFile(path: directory + "/" + Self.checkpointName).read()) ?? [:]
        }
        state.withLock { $0.checkpoints = checkpoints }
    }

    /// Starts the threads.
    func start() {
        for index in 0..<config.threads {
            exited.enter()
            let thread = Thread { [self] in
                defer { exited.leave() }
                runThread()
            }
            thread.name = "runnel-log-cleaner-\(index)"
            thread.start()
        }
    }

    /// Stops the threads: a round in progress stops at its next batch (its output discarded),
    /// or finishes the swap it is in. Returns once every thread has exited.
    func shutdown() {
        state.withLock { $0.stopping = true }
        wakeup.lock()
        wakeup.broadcast()
        wakeup.unlock()
        exited.wait()
    }

    private var isStopping: Bool { state.withLock { $0.stopping } }

    private func runThread() {
        while !isStopping {
            if !cleanFilthiest() {
                wakeup.lock()
                if !isStopping { _ = wakeup.wait(until: Date(timeIntervalSinceNow: Double(config.backoffMs) / 1000)) }
                wakeup.unlock()
            }
        }
    }

    /// Runs one round on the filthiest eligible partition; returns whether there was one.
    @discardableResult
    func cleanFilthiest() -> Bool {
        guard let (log, snapshot, range) = grabFilthiest() else { return false }
        defer { state.withLock { _ = $0.inProgress.remove(log.topicPartition) } }
        let round = CleanerRound(
            log: log, snapshot: snapshot, range: range, now: clock(), mapBytes: config.mapBytesPerThread, loadFactor: config.loadFactor,
            throttler: throttler, shouldStop: { [self] in isStopping }, failpoint: failpoint)
        do {
            let started = DispatchTime.now().uptimeNanoseconds
            guard case .cleaned(let stats) = try round.run() else { return true }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            recordCheckpoint(stats.endOffset, for: log)
            log.clearCleanerTruncationMark(ifGeneration: snapshot.generation)
            let figures = RoundFigures(
                bytesRead: stats.bytesRead, bytesWritten: stats.bytesWritten, recordsRead: stats.recordsRead,
                recordsKept: stats.recordsKept, seconds: seconds)
            onEvent(.cleaned(log.topicPartition, summary: Self.summary(stats, range: range, seconds: seconds), figures: figures))
        } catch where log.cleaningIsStale(since: snapshot.generation) {
            // The partition was deleted, truncated or closed under the round (its directory
            // may be gone): nothing is wrong with it.
        } catch {
            state.withLock { _ = $0.uncleanable.insert(log.topicPartition) }
            onEvent(.failed(log.topicPartition, reason: "\(error)"))
        }
        return true
    }

    private func grabFilthiest() -> (PartitionLog, PartitionLog.CleaningSnapshot, LogToClean)? {
        let now = clock()
        let (checkpoints, busy) = state.withLock { state in
            (state.checkpoints, state.inProgress.union(state.uncleanable))
        }
        var best: (PartitionLog, PartitionLog.CleaningSnapshot, LogToClean)?
        for log in logs() where !busy.contains(log.topicPartition) && !log.isOffline {
            guard log.config.cleanupPolicy.contains(.compact), let snapshot = log.cleaningSnapshot(),
                  let range = LogToClean(
                      snapshot, checkpoint: checkpoints[log.dataDirectory]?[log.topicPartition], now: now,
                      firstBatchTimestamp: Self.firstBatchTimestamp),
                  range.isEligible
            else { continue }
            if best == nil || range.cleanableRatio > best!.2.cleanableRatio { best = (log, snapshot, range) }
        }
        guard let best else { return nil }
        // Another thread may have taken it since the check above.
        let claimed = state.withLock { $0.inProgress.insert(best.0.topicPartition).inserted }
        return claimed ? best : nil
    }

    private static func firstBatchTimestamp(_ segment: PartitionLog.CleanableSegment) -> Int64? {
        guard let file = try? LogFile(path: segment.logPath, create: false),
              let bytes = try? file.read(at: 0, length: RecordBatchHeader.size),
              let header = try? RecordBatchHeader(from: bytes, at: bytes.readerIndex)
        else { return nil }
        return header.maxTimestamp
    }

    /// Saves where `log`'s next round starts, and drops entries of partitions no longer here.
    private func recordCheckpoint(_ offset: Int64, for log: PartitionLog) {
        let directory = log.dataDirectory
        let present = Set(logs().filter { $0.dataDirectory == directory }.map(\.topicPartition))
        state.withLock { state in
            state.checkpoints[directory, default: [:]][log.topicPartition] = offset
            state.checkpoints[directory] = state.checkpoints[directory]!.filter { present.contains($0.key) }
        }
        writeCheckpoint(of: directory)
    }

    /// Forgets a deleted partition's checkpoint, on disk too (a topic created again under its
    /// name starts dirty, also after a restart).
    func forget(_ partition: TopicPartition, in directory: String) {
        let removed = state.withLock { $0.checkpoints[directory]?.removeValue(forKey: partition) != nil }
        if removed { writeCheckpoint(of: directory) }
    }

    /// `log` was truncated to `offset`: its checkpoint may not stay above it, on disk either, or
    /// records fetched again below the old checkpoint would count as clean and never meet a
    /// later record of their key (Kafka's `maybeTruncateCheckpoint`).
    func truncated(_ log: PartitionLog, to offset: Int64) {
        let lowered = state.withLock { state -> Bool in
            guard let current = state.checkpoints[log.dataDirectory]?[log.topicPartition], current > offset else { return false }
            state.checkpoints[log.dataDirectory]![log.topicPartition] = offset
            return true
        }
        if lowered { writeCheckpoint(of: log.dataDirectory) }
    }

    /// Writes a data directory's checkpoint file as the state has it now. One writer at a time
    /// (they share the temporary file), each writing the latest entries.
    private func writeCheckpoint(of directory: String) {
        checkpointWrites.withLock { _ in
            let entries = state.withLock { $0.checkpoints[directory] ?? [:] }
            do {
                try OffsetCheckpointFile(path: directory + "/" + Self.checkpointName).write(entries)
            } catch {
                // The next start cleans from an older position again: wasted work, nothing lost.
                onEvent(.checkpointFailed(directory: directory, reason: "\(error)"))
            }
        }
    }

    /// The checkpoint of a partition (tests and the operator's view).
    func checkpoint(of partition: TopicPartition, in directory: String) -> Int64? {
        state.withLock { $0.checkpoints[directory]?[partition] }
    }

    /// The partitions the cleaner gave up on until restart.
    public var uncleanablePartitions: Set<TopicPartition> { state.withLock { $0.uncleanable } }

    /// Kafka's round report (`LogCleaner.recordStats`), on one line.
    static func summary(_ stats: CleanerRound.Stats, range: LogToClean, seconds: Double) -> String {
        let megabytes = Double(stats.bytesRead) / 1_048_576
        let rate = seconds > 0 ? megabytes / seconds : 0
        let kept = stats.recordsRead == 0 ? 100 : Double(stats.recordsKept) * 100 / Double(stats.recordsRead)
        return "cleaned offsets up to \(stats.endOffset) (dirty section \(range.firstDirtyOffset)..<\(range.firstUncleanableOffset),"
            + " ratio \(String(format: "%.2f", range.cleanableRatio))) in \(String(format: "%.3f", seconds)) s:"
            + " read \(String(format: "%.1f", megabytes)) MB (\(String(format: "%.1f", rate)) MB/s), wrote \(stats.bytesWritten) bytes,"
            + " kept \(stats.recordsKept) of \(stats.recordsRead) records (\(String(format: "%.1f", kept)) %),"
            + " \(stats.groups) segment groups, \(stats.mapKeys) keys in the map"
    }
}
