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

    /// What start-up found, for the broker's log line.
    public struct StartupReport: Sendable {
        public var partitions: Int
        public var cleanShutdown: Bool
        public var recoveredBytes: Int
    }

    public init(directories: [String], clock: @escaping @Sendable () -> Int64 = PartitionLog.wallClockMilliseconds) throws(StorageError) {
        precondition(!directories.isEmpty, "at least one log directory")
        self.directories = directories
        self.clock = clock
        for directory in directories { try FileSystem.makeDirectory(directory) }
    }

    /// Loads every partition directory, all directories concurrently, recovering those that
    /// a crash left behind. `config` gives each partition's log config by topic.
    public func startup(config: @Sendable (TopicPartition) -> LogConfig) throws -> StartupReport {
        var report = StartupReport(partitions: 0, cleanShutdown: true, recoveredBytes: 0)
        for directory in directories {

            let recoveryPoints = try OffsetCheckpointFile(path: directory + "/" + OffsetCheckpointFile.recoveryPoint).read()
            let logStarts = try OffsetCheckpointFile(path: directory + "/" + OffsetCheckpointFile.logStartOffset).read()
            let highWatermarks = try OffsetCheckpointFile(path: directory + "/" + OffsetCheckpointFile.highWatermark).read()
            let partitions = try FileSystem.listDirectory(directory).compactMap { name -> TopicPartition? in
                FileSystem.isDirectory(directory + "/" + name) ? TopicPartition(directoryName: name) : nil
            }
            // A directory with no partitions (a first start) has nothing to recover.
            let marker = directory + "/" + Self.cleanShutdownMarker
            let clean = FileSystem.exists(marker) || partitions.isEmpty
            report.cleanShutdown = report.cleanShutdown && clean
            let results = Mutex<[Result<PartitionLog, any Error>]>([])
            DispatchQueue.concurrentPerform(iterations: partitions.count) { index in
                let partition = partitions[index]
                let result = Result { () throws -> PartitionLog in
                    try PartitionLog(
                        directory: directory + "/" + partition.directoryName, topicPartition: partition,
                        config: config(partition), recoveryPoint: recoveryPoints[partition] ?? 0,
                        logStartOffset: logStarts[partition] ?? 0, highWatermark: highWatermarks[partition] ?? 0,
                        hadCleanShutdown: clean, clock: clock)
                }
                results.withLock { $0.append(result) }
            }
            for result in results.withLock({ $0 }) {
                let log = try result.get()
                report.partitions += 1
                report.recoveredBytes += log.recoveredBytes
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
        let directory = directories[counts.firstIndex(of: counts.min()!)!]
        let log = try PartitionLog(
            directory: directory + "/" + partition.directoryName, topicPartition: partition, config: config,
            hadCleanShutdown: true, clock: clock)
        try FileSystem.syncDirectory(directory)
        logs.withLock { $0[partition] = log }
        placement.withLock { $0[partition] = directory }
        return log
    }

    public func deleteLog(for partition: TopicPartition) throws(StorageError) {
        guard let log = logs.withLock({ $0.removeValue(forKey: partition) }) else { return }
        placement.withLock { _ = $0.removeValue(forKey: partition) }
        try log.delete()
    }

    /// Writes the recovery-point, log-start-offset and high-watermark checkpoints.
    public func writeCheckpoints() throws(StorageError) {
        let snapshot = logs.withLock { $0 }
        let where_ = placement.withLock { $0 }
        for directory in directories {
            let inDirectory = snapshot.filter { where_[$0.key] == directory }.mapValues(\.offsets)
            try OffsetCheckpointFile(path: directory + "/" + OffsetCheckpointFile.recoveryPoint)
                .write(inDirectory.mapValues(\.recoveryPoint))
            try OffsetCheckpointFile(path: directory + "/" + OffsetCheckpointFile.logStartOffset)
                .write(inDirectory.mapValues(\.logStartOffset))
            try OffsetCheckpointFile(path: directory + "/" + OffsetCheckpointFile.highWatermark)
                .write(inDirectory.mapValues(\.highWatermark))
        }
    }

    /// One pass of the schedules: `flush.ms` flushes, then retention, then checkpoints.
    /// Returns how many segments retention deleted.
    @discardableResult
    public func runMaintenance() throws(StorageError) -> Int {
        let now = clock()
        var deleted = 0
        for log in allLogs {
            try log.flushIfDue(now: now)
            deleted += try log.applyRetention(now: now)
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

    /// Flushes and closes every log, writes the checkpoints, then the clean-shutdown marker.
    public func shutdown() throws(StorageError) {
        for log in allLogs { try log.close() }
        try writeCheckpoints()
        for directory in directories {
            try FileSystem.writeAtomically("", to: directory + "/" + Self.cleanShutdownMarker)
        }
    }
}
