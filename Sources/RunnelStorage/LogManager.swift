import Dispatch
import Synchronization
import RunnelProtocol

/// Every partition log under the data directories: loading them at start-up, creating and
/// deleting them, the checkpoint files, the clean-shutdown marker, and the retention and
/// flush schedules.
public final class LogManager: Sendable {
    /// Present in a data directory only while no broker runs on it or after a clean shutdown.
    static let cleanShutdownMarker = ".runnel_cleanshutdown"

    public let directories: [String]
    private let logs = Mutex<[TopicPartition: PartitionLog]>([:])
    private let clock: @Sendable () -> Int64
    /// Per partition, the directory that holds it.
    private let placement = Mutex<[TopicPartition: String]>([:])
    /// How every log fsyncs (tests inject failures).
    private let syncer: FileSyncer
    /// The data directories an fsync failure took offline: their logs refuse all I/O, get no
    /// checkpoints and no clean-shutdown marker, so the next start recovers them from disk.
    public let directoryFailures = LogDirectoryFailureChannel()

    /// What start-up found, for the broker's log line.
    public struct StartupReport: Sendable {
        public var partitions: Int
        public var cleanShutdown: Bool
        /// Bytes cut from damaged segments (torn tails, files cut short) and moved aside.
        public var recoveredBytes: Int
        /// Segments found damaged and cut (see LogLoader); never "clean" when this is not 0.
        public var damagedSegments: Int = 0
        /// Everything start-up found wrong and repaired, to be logged at its severity.
        public var problems: [StartupProblem] = []
    }

    /// One lock per data directory, held for the manager's (the process's) lifetime.
    private let directoryLocks: [DirectoryLock]
    /// Whether `startup` loaded the logs: only then may `shutdown` write checkpoints and the
    /// clean-shutdown marker (a manager that never loaded them knows nothing to record, and
    /// empty checkpoints with a "clean" marker would hide the real state from the next start).
    private let started = Atomic<Bool>(false)
    /// The log cleaner, once `startCleaner` ran (with `log.cleaner.enable` and threads > 0).
    private let cleaner = Mutex<LogCleaner?>(nil)

    public init(
        directories: [String], clock: @escaping @Sendable () -> Int64 = PartitionLog.wallClockMilliseconds,
        syncer: FileSyncer = .system
    ) throws(StorageError) {
        precondition(!directories.isEmpty, "at least one log directory")
        self.directories = directories
        self.clock = clock
        self.syncer = syncer
        var locks: [DirectoryLock] = []
        for directory in directories {
            try FileSystem.makeDirectories(directory)
            locks.append(try DirectoryLock(directory: directory))
        }
        directoryLocks = locks
    }

    /// Reads a checkpoint file. One that cannot be read (empty, cut short, garbage) is treated
    /// as missing, with a warning: what it held is rebuilt from the data, as Kafka does.
    /// Returns nil in that case.
    private static func readCheckpoint(_ name: String, in directory: String, problems: inout [StartupProblem]) throws(StorageError) -> [TopicPartition: Int64]? {
        do {
            return try OffsetCheckpointFile(path: directory + "/" + name).read()
        } catch where error.code == .corruptFile {
            problems.append(StartupProblem(.warning, "\(error.detail); ignoring it and rebuilding from the data"))
            return nil
        }
    }

    /// Loads every partition directory, all directories concurrently, recovering those that
    /// a crash left behind. `config` gives each partition's log config by topic.
    public func startup(config: @Sendable (TopicPartition) -> LogConfig) throws -> StartupReport {
        let report = try load(config: config)
        started.store(true, ordering: .releasing)
        return report
    }

    private func load(config: @Sendable (TopicPartition) -> LogConfig) throws -> StartupReport {
        var report = StartupReport(partitions: 0, cleanShutdown: true, recoveredBytes: 0)
        for directory in directories {
            let readableRecoveryPoints = try Self.readCheckpoint(OffsetCheckpointFile.recoveryPoint, in: directory, problems: &report.problems)
            let recoveryPoints = readableRecoveryPoints ?? [:]
            let logStarts = try Self.readCheckpoint(OffsetCheckpointFile.logStartOffset, in: directory, problems: &report.problems) ?? [:]
            let highWatermarks = try Self.readCheckpoint(OffsetCheckpointFile.highWatermark, in: directory, problems: &report.problems) ?? [:]
            let partitions = try FileSystem.listDirectory(directory).compactMap { name -> TopicPartition? in
                FileSystem.isDirectory(directory + "/" + name) ? TopicPartition(directoryName: name) : nil
            }
            // A directory with no partitions (a first start) has nothing to recover.
            let marker = directory + "/" + Self.cleanShutdownMarker
            // An unreadable recovery point forces recovery of everything (recovery point 0),
            // even after a clean shutdown: nothing on disk then says what was fsynced.
            let clean = (FileSystem.exists(marker) && readableRecoveryPoints != nil) || partitions.isEmpty
            report.cleanShutdown = report.cleanShutdown && clean
            let results = Mutex<[Result<PartitionLog, any Error>]>([])
            DispatchQueue.concurrentPerform(iterations: partitions.count) { index in
                let partition = partitions[index]
                let result = Result { () throws -> PartitionLog in
                    try PartitionLog(
                        directory: directory + "/" + partition.directoryName, topicPartition: partition,
                        config: config(partition), recoveryPoint: recoveryPoints[partition] ?? 0,
                        logStartOffset: logStarts[partition] ?? 0, highWatermark: highWatermarks[partition] ?? 0,
                        hadCleanShutdown: clean, clock: clock, syncer: syncer, directoryFailures: directoryFailures)
                }
                results.withLock { $0.append(result) }
            }
            for result in results.withLock({ $0 }) {
                let log = try result.get()
                report.partitions += 1
                report.recoveredBytes += log.recoveredBytes
                report.damagedSegments += log.damage.count
                report.problems += log.startupProblems
                logs.withLock { $0[log.topicPartition] = log }
                placement.withLock { $0[log.topicPartition] = directory }
            }
            // From now until a clean shutdown, a crash must trigger recovery.
            try FileSystem.remove(marker)
            try FileSystem.syncDirectory(directory)
        }
        return report
    }

    public func log(for partition: TopicPartition) -> PartitionLog? {
        logs.withLock { $0[partition] }
    }

    public var allLogs: [PartitionLog] { logs.withLock { Array($0.values) } }

    /// Creates the partition's log (or returns the existing one) in the least-used directory.
    public func createLog(for partition: TopicPartition, config: LogConfig) throws(StorageError) -> PartitionLog {
        // One creation at a time, so two callers never open two logs on one directory.
        try creation.withLock { _ throws(StorageError) in try createLogLocked(for: partition, config: config) }
    }

    private let creation = Mutex<Void>(())

    private func createLogLocked(for partition: TopicPartition, config: LogConfig) throws(StorageError) -> PartitionLog {
        if let existing = log(for: partition) { return existing }
        let counts = placement.withLock { placement in
            directories.map { directory in placement.values.filter { $0 == directory }.count }
        }
        let online = directories.indices.filter { directoryFailures.offlineReason(directories[$0]) == nil }
        guard let chosen = online.min(by: { counts[$0] < counts[$1] }) else {
            throw StorageError(.logDirectoryOffline, "every log directory is offline")
        }
        let directory = directories[chosen]
        let partitionDirectory = directory + "/" + partition.directoryName
        let log = try PartitionLog(
            directory: partitionDirectory, topicPartition: partition, config: config,
            hadCleanShutdown: true, clock: clock, syncer: syncer, directoryFailures: directoryFailures)
        // The new segment files and the partition directory exist only as directory entries
        // until both directories are fsynced.
        try syncer.syncDirectory(partitionDirectory)
        try syncer.syncDirectory(directory)
        logs.withLock { $0[partition] = log }
        placement.withLock { $0[partition] = directory }
        if let logCleaner = cleaner.withLock({ $0 }) { observeTruncations(of: log, by: logCleaner) }
        return log
    }

    public func deleteLog(for partition: TopicPartition) throws(StorageError) {
        guard let log = logs.withLock({ $0.removeValue(forKey: partition) }) else { return }
        placement.withLock { _ = $0.removeValue(forKey: partition) }
        cleaner.withLock { $0 }?.forget(partition, in: log.dataDirectory)
        try log.delete()
    }

    /// Starts the log cleaner threads for the compacted partitions (after `startup`).
    public func startCleaner(config: CleanerConfig, onEvent: @escaping @Sendable (LogCleaner.Event) -> Void) {
        guard config.runsCleaner else { return }
        let logCleaner = LogCleaner(
            config: config, directories: directories, logs: { [weak self] in self?.allLogs ?? [] }, clock: clock, onEvent: onEvent)
        cleaner.withLock { $0 = logCleaner }
        for log in allLogs { observeTruncations(of: log, by: logCleaner) }
        logCleaner.start()
    }

    private func observeTruncations(of log: PartitionLog, by logCleaner: LogCleaner) {
        log.truncationObserver.withLock { $0 = { [weak logCleaner] log, offset in logCleaner?.truncated(log, to: offset) } }
    }

    /// The running log cleaner, if any.
    public var logCleaner: LogCleaner? { cleaner.withLock { $0 } }

    /// Writes the recovery-point, log-start-offset and high-watermark checkpoints.
    public func writeCheckpoints() throws(StorageError) {
        let snapshot = logs.withLock { $0 }
        let where_ = placement.withLock { $0 }
        // An offline directory keeps the checkpoints of its last good state.
        for directory in directories where directoryFailures.offlineReason(directory) == nil {
            let inDirectory = snapshot.filter { where_[$0.key] == directory }.mapValues(\.offsets)
            try OffsetCheckpointFile(path: directory + "/" + OffsetCheckpointFile.recoveryPoint)
                .write(inDirectory.mapValues(\.recoveryPoint))
            try OffsetCheckpointFile(path: directory + "/" + OffsetCheckpointFile.logStartOffset)
                .write(inDirectory.mapValues(\.logStartOffset))
            try OffsetCheckpointFile(path: directory + "/" + OffsetCheckpointFile.highWatermark)
                .write(inDirectory.mapValues(\.highWatermark))
        }
    }

    /// One pass of the schedules: `flush.ms` flushes, retention, closing idle segments
    /// (`closeIdleSegments`), then checkpoints.
    /// Returns how many segments retention deleted.
    @discardableResult
    public func runMaintenance() throws(StorageError) -> Int {
        let now = clock()
        var deleted = 0
        for log in allLogs where !log.isOffline {
            try log.flushIfDue(now: now)
            deleted += try log.applyRetention(now: now)
            try log.closeIdleSegments()
        }
        try writeCheckpoints()
        return deleted
    }

    /// Runs `runMaintenance` every `interval` (Kafka's `log.retention.check.interval.ms`) until
    /// the task is cancelled.
    public func runSchedules(every interval: Duration, onError: @Sendable (any Error) -> Void) async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
                try runMaintenance()
            } catch is CancellationError {
                return
            } catch {
                onError(error)
            }
        }
    }

    /// Flushes and closes every log, writes the checkpoints, then the clean-shutdown marker, and
    /// releases the directory locks.
    public func shutdown() throws(StorageError) {
        guard started.load(ordering: .acquiring) else {
            // Refused before it loaded anything (another cluster, another broker's id): the
            // directories are left exactly as they were.
            for lock in directoryLocks { lock.release() }
            return
        }
        // No cleaner may swap segments of a log being closed.
        cleaner.withLock { $0 }?.shutdown()
        for log in allLogs { try log.close() }
        try writeCheckpoints()
        // An offline directory gets no marker: its next start must recover it from disk.
        for directory in directories where directoryFailures.offlineReason(directory) == nil {
            try FileSystem.writeAtomically("", to: directory + "/" + Self.cleanShutdownMarker)
        }
        // Nothing is written after the marker: the directories may go to the next broker.
        for lock in directoryLocks { lock.release() }
    }
}
