import Foundation
import RunnelProtocol
import Synchronization
import Testing
@testable import RunnelStorage

/// A `FileSyncer` that really fsyncs, records what it was asked to sync, and fails (without
/// syncing, as a dying disk would) while `failing` is set.
final class ScriptedSyncer: Sendable {
    struct Calls {
        var files: [String] = []
        var directories: [String] = []
        var failures = 0
    }

    let failing = Atomic<Bool>(false)
    let calls = Mutex(Calls())

    var syncer: FileSyncer {
        FileSyncer(
            syncFile: { file throws(StorageError) in
                if self.failing.load(ordering: .sequentiallyConsistent) {
                    self.calls.withLock { $0.failures += 1 }
                    throw StorageError(.io, "fdatasync \(file.path): Input/output error (injected)")
                }
                self.calls.withLock { $0.files.append(file.path) }
                try file.sync()
            },
            syncDirectory: { path throws(StorageError) in
                if self.failing.load(ordering: .sequentiallyConsistent) {
                    self.calls.withLock { $0.failures += 1 }
                    throw StorageError(.io, "fsync \(path): Input/output error (injected)")
                }
                self.calls.withLock { $0.directories.append(path) }
                try FileSystem.syncDirectory(path)
            })
    }
}

@Suite struct DurabilityTests {
    static var syncBeforeAck: LogConfig {
        var config = LogConfig()
        config.flushMessages = 1
        return config
    }

    static func batch(_ value: UInt8) throws -> RecordBatch {
        try makeBatch(values: [[value]], timestamps: [1_700_000_000_000])
    }

    /// flush.messages=N (N > 1): the flush an append makes due runs on the partition's fsync
    /// queue, never on the appending thread (an event loop in the broker), and still happens.
    @Test func aFlushDueByFlushMessagesRunsOffTheAppendingThread() throws {
        let directory = TemporaryDirectory()
        let appender = pthread_self()
        let syncThreads = Mutex<[pthread_t]>([])
        let syncer = FileSyncer(
            syncFile: { file throws(StorageError) in
                syncThreads.withLock { $0.append(pthread_self()) }
                try file.sync()
            },
            syncDirectory: { path throws(StorageError) in try FileSyncer.system.syncDirectory(path) })
        var config = LogConfig()
        config.flushMessages = 2
        let log = try PartitionLog(
            directory: directory.path + "/events-0", topicPartition: testPartition, config: config,
            hadCleanShutdown: true, syncer: syncer)
        _ = try log.append(try Self.batch(1), leaderEpoch: 0)
        _ = try log.append(try Self.batch(2), leaderEpoch: 0)
        log.groupCommit.drain()
        let threads = syncThreads.withLock { $0 }
        #expect(!threads.isEmpty, "the second append made a flush due")
        #expect(threads.allSatisfy { pthread_equal($0, appender) == 0 })
        #expect(log.offsets.recoveryPoint == 2)
        try log.close()
    }

    /// Deleting a topic must not look like a failing disk: a flush that runs after the
    /// partition's directory is gone (queued by an append, or the flush.ms schedule) does
    /// nothing, instead of failing its directory fsync and taking the data directory offline.
    @Test func aFlushAfterDeletionLeavesTheDirectoryOnline() throws {
        let directory = TemporaryDirectory()
        let failures = LogDirectoryFailureChannel()
        // Nothing flushed yet, so a flush would also fsync the (new) partition directory.
        let log = try PartitionLog(
            directory: directory.path + "/events-0", topicPartition: testPartition, config: LogConfig(),
            hadCleanShutdown: true, directoryFailures: failures)
        _ = try log.append(try Self.batch(1), leaderEpoch: 0)
        try log.delete()
        #expect(throws: StorageError.self) { try log.flush() }
        #expect(failures.offlineDirectories.isEmpty)
        #expect(!log.isOffline)
    }

    /// flush.messages=1: the high watermark (what consumers may read) follows the fsync, not
    /// the write, so no consumer sees a record whose producer may still get an error.
    @Test func highWatermarkWaitsForTheFsyncWhenEveryAppendIsSynced() async throws {
        let directory = TemporaryDirectory()
        let log = try PartitionLog(
            directory: directory.path + "/events-0", topicPartition: testPartition, config: Self.syncBeforeAck,
            hadCleanShutdown: true)
        let result = try log.append(try Self.batch(1), leaderEpoch: 0)
        log.updateHighWatermark(result.nextOffset)
        #expect(log.offsets.logEndOffset == 1)
        #expect(log.offsets.highWatermark == 0, "written, not yet durable: invisible to consumers")
        #expect(try log.read(from: 0, maxBytes: 1 << 20, upTo: log.offsets.highWatermark) == nil)
        try await log.waitUntilDurable(result.nextOffset)
        #expect(log.offsets.recoveryPoint == 1)
        #expect(log.offsets.highWatermark == 1, "the fsync moves the high watermark")
        #expect(try log.read(from: 0, maxBytes: 1 << 20, upTo: log.offsets.highWatermark) != nil)

        // Without fsync-before-acknowledge the high watermark follows the write at once.
        let other = try PartitionLog(
            directory: directory.path + "/events-1", topicPartition: TopicPartition(topic: "events", partition: 1),
            config: LogConfig(), hadCleanShutdown: true)
        let written = try other.append(try Self.batch(2), leaderEpoch: 0)
        other.updateHighWatermark(written.nextOffset)
        #expect(other.offsets.highWatermark == 1 && other.offsets.recoveryPoint == 0)
    }

    /// The fsyncgate lesson: once an fsync failed, a later one that succeeds must not make the
    /// earlier bytes count as durable. The whole data directory goes offline: every partition
    /// in it refuses appends, reads and flushes, keeps its recovery point and high watermark,
    /// gets no new checkpoints and no clean-shutdown marker (so the next start recovers it).
    @Test func aFailedFsyncTakesTheDirectoryOfflineAndNothingLaterCountsAsDurable() async throws {
        let directory = TemporaryDirectory()
        let scripted = ScriptedSyncer()
        let manager = try LogManager(directories: [directory.path], syncer: scripted.syncer)
        _ = try manager.startup { _ in Self.syncBeforeAck }
        let offline = Mutex<[String]>([])
        manager.directoryFailures.addListener { failed, _ in offline.withLock { $0.append(failed) } }
        let log = try manager.createLog(for: testPartition, config: Self.syncBeforeAck)
        let neighbour = try manager.createLog(for: TopicPartition(topic: "other", partition: 0), config: LogConfig())

        let first = try log.append(try Self.batch(1), leaderEpoch: 0)
        log.updateHighWatermark(first.nextOffset)
        try await log.waitUntilDurable(first.nextOffset)
        #expect(log.offsets.recoveryPoint == 1 && log.offsets.highWatermark == 1)
        try manager.writeCheckpoints()

        // The disk fails one fsync...
        let second = try log.append(try Self.batch(2), leaderEpoch: 0)
        log.updateHighWatermark(second.nextOffset)
        scripted.failing.store(true, ordering: .sequentiallyConsistent)
        await #expect(throws: StorageError.self) { try await log.waitUntilDurable(second.nextOffset) }
        #expect(scripted.calls.withLock { $0.failures } == 1)
        // ...and works again: the next fsync would succeed, but must not be believed.
        scripted.failing.store(false, ordering: .sequentiallyConsistent)
        let syncsBefore = scripted.calls.withLock { $0.files.count }
        let flushError = #expect(throws: StorageError.self) { try log.flush() }
        #expect(flushError?.code == .logDirectoryOffline)
        await #expect(throws: StorageError.self) { try await log.waitUntilDurable(second.nextOffset) }
        #expect(scripted.calls.withLock { $0.files.count } == syncsBefore, "an offline log never fsyncs again")
        #expect(log.offsets.recoveryPoint == 1, "the recovery point stays at the last good fsync")
        #expect(log.offsets.highWatermark == 1, "consumers never see the bytes the failed fsync covered")
        #expect(offline.withLock { $0 } == [directory.path], "reported once, for the data directory")
        #expect(manager.directoryFailures.offlineDirectories == [directory.path])

        // Every partition of the directory is offline, not only the one whose fsync failed.
        for partitionLog in [log, neighbour] {
            #expect(partitionLog.isOffline)
            let appendError = #expect(throws: StorageError.self) { try partitionLog.append(try Self.batch(3), leaderEpoch: 0) }
            #expect(appendError?.code == .logDirectoryOffline)
            let readError = #expect(throws: StorageError.self) { try partitionLog.read(from: 0, maxBytes: 1 << 20) }
            #expect(readError?.code == .logDirectoryOffline)
            #expect(appendError?.isStorageFailure == true)
        }
        #expect(throws: StorageError.self) { try manager.createLog(for: TopicPartition(topic: "new", partition: 0), config: LogConfig()) }

        // Checkpoints keep the last good state; shutdown leaves no clean-shutdown marker.
        let checkpoint = directory.path + "/" + OffsetCheckpointFile.recoveryPoint
        let before = try String(contentsOfFile: checkpoint, encoding: .utf8)
        try manager.shutdown()
        #expect(try String(contentsOfFile: checkpoint, encoding: .utf8) == before)
        #expect(!FileSystem.exists(directory.path + "/" + LogManager.cleanShutdownMarker))
        #expect(scripted.calls.withLock { $0.files.count } == syncsBefore)

        // The next start recovers from what is on disk and the directory is usable again.
        let restarted = try LogManager(directories: [directory.path])
        let report = try restarted.startup { _ in Self.syncBeforeAck }
        #expect(!report.cleanShutdown)
        let reopened = try #require(restarted.log(for: testPartition))
        #expect(!reopened.isOffline)
        _ = try reopened.append(try Self.batch(4), leaderEpoch: 0)
    }

    /// A new segment file, and a new partition directory, exist only as directory entries:
    /// the directories that hold them are fsynced before their data can count as durable.
    @Test func directoriesAreSyncedAfterCreatingAPartitionAndRollingASegment() async throws {
        let directory = TemporaryDirectory()
        let scripted = ScriptedSyncer()
        let manager = try LogManager(directories: [directory.path], syncer: scripted.syncer)
        _ = try manager.startup { _ in Self.syncBeforeAck }
        let log = try manager.createLog(for: testPartition, config: Self.syncBeforeAck)
        let partitionDirectory = directory.path + "/" + testPartition.directoryName
        #expect(scripted.calls.withLock { $0.directories } == [partitionDirectory, directory.path])

        let first = try log.append(try Self.batch(1), leaderEpoch: 0)
        try await log.waitUntilDurable(first.nextOffset)
        scripted.calls.withLock { $0.directories = [] }
        let second = try log.append(try Self.batch(2), leaderEpoch: 0)
        try await log.waitUntilDurable(second.nextOffset)
        #expect(scripted.calls.withLock { $0.directories } == [], "no new segment: no directory fsync")

        try log.roll()
        let third = try log.append(try Self.batch(3), leaderEpoch: 0)
        try await log.waitUntilDurable(third.nextOffset)
        #expect(scripted.calls.withLock { $0.directories } == [partitionDirectory], "the rolled-in segment's entry is synced")
        #expect(scripted.calls.withLock { $0.files }.contains { $0.hasSuffix(LogSegment.fileName(baseOffset: 2, suffix: ".log")) })
    }

    /// A failing directory fsync is a failing fsync: it takes the directory offline too.
    @Test func aFailedDirectoryFsyncAfterARollAlsoTakesTheDirectoryOffline() async throws {
        let directory = TemporaryDirectory()
        let scripted = ScriptedSyncer()
        let failures = LogDirectoryFailureChannel()
        let log = try PartitionLog(
            directory: directory.path + "/events-0", topicPartition: testPartition, config: Self.syncBeforeAck,
            hadCleanShutdown: true, syncer: scripted.syncer, directoryFailures: failures)
        let first = try log.append(try Self.batch(1), leaderEpoch: 0)
        try await log.waitUntilDurable(first.nextOffset)
        try log.roll()
        _ = try log.append(try Self.batch(2), leaderEpoch: 0)
        // Only the directory fsync fails: files sync, the directory does not.
        let directorySyncer = FileSyncer(
            syncFile: scripted.syncer.syncFile,
            syncDirectory: { path throws(StorageError) in throw StorageError(.io, "fsync \(path): injected") })
        let failing = try PartitionLog(
            directory: directory.path + "/events-1", topicPartition: TopicPartition(topic: "events", partition: 1),
            config: Self.syncBeforeAck, hadCleanShutdown: true, syncer: directorySyncer, directoryFailures: failures)
        let written = try failing.append(try Self.batch(3), leaderEpoch: 0)
        await #expect(throws: StorageError.self) { try await failing.waitUntilDurable(written.nextOffset) }
        #expect(failing.offsets.recoveryPoint == 0)
        #expect(log.isOffline, "the other partition of the directory is offline too")
        #expect(failures.offlineDirectories == [directory.path])
    }
}

/// A broker refused before it loaded its logs (another cluster, another broker's id) must leave
/// its data directory exactly as it was: no empty checkpoints, no clean-shutdown marker.
@Suite struct RefusedStartTests {
    @Test func aManagerThatNeverLoadedWritesNothingAtShutdown() throws {
        let directory = TemporaryDirectory()
        let first = try LogManager(directories: [directory.path])
        _ = try first.startup { _ in LogConfig() }
        let log = try first.createLog(for: testPartition, config: LogConfig())
        let appended = try log.append(try makeBatch(values: [[1]], timestamps: [1]), leaderEpoch: 0)
        log.updateHighWatermark(appended.nextOffset)
        try first.shutdown()
        try FileManager.default.removeItem(atPath: directory.path + "/" + LogManager.cleanShutdownMarker)
        let before = try String(contentsOfFile: directory.path + "/replication-offset-checkpoint", encoding: .utf8)

        let refused = try LogManager(directories: [directory.path])
        try refused.shutdown()
        #expect(try String(contentsOfFile: directory.path + "/replication-offset-checkpoint", encoding: .utf8) == before)
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/" + LogManager.cleanShutdownMarker))
    }
}
