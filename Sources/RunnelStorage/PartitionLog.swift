#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import RunnelProtocol
import Synchronization

/// The log of one partition: an ordered list of segments, the last one active.
///
/// `append` assigns offsets by stamping the base offset (and leader epoch) into the batch
/// header, outside the CRC, and writes the producer's bytes otherwise untouched. Reads return
/// file slices of whole batches for sendfile. Every method is safe to call from any thread: a
/// mutex serializes the bookkeeping, and fsyncs run outside it so appends continue meanwhile.
public final class PartitionLog: Sendable {
    public let topicPartition: TopicPartition
    public let directory: String

    /// What an append did.
    public struct AppendResult: Sendable, Equatable {
        public var baseOffset: Int64
        public var lastOffset: Int64
        /// The batch was a producer's retry of one already stored: nothing was written and the
        /// offsets are the ones it got the first time.
        public var isDuplicate = false
        /// The log end offset after the append (lastOffset + 1).
        public var nextOffset: Int64 { lastOffset + 1 }
    }

    /// The offsets of the log, as a consistent snapshot.
    public struct Offsets: Sendable, Equatable {
        public var logStartOffset: Int64
        public var logEndOffset: Int64
        public var highWatermark: Int64
        /// Everything below this is fsynced.
        public var recoveryPoint: Int64
    }

    struct State {
        var config: LogConfig
        var segments: [LogSegment]
        var logStartOffset: Int64
        /// What consumers may read up to. Under fsync-before-acknowledge it never passes the
        /// recovery point (see `advanceHighWatermark`).
        var highWatermark: Int64
        /// The high watermark replication asked for (on one node: the log end). It becomes
        /// `highWatermark` once it is also durable, when the log syncs before acknowledging.
        var replicatedHighWatermark: Int64
        /// Everything below this is fsynced; only a successful flush moves it up.
        var recoveryPoint: Int64
        var unflushedMessages: Int64 = 0
        var lastFlushTime: Int64
        var leaderEpochs: LeaderEpochCache
        var producerState: ProducerState
        var isClosed = false
        /// The partition's directory was removed (DeleteTopics): nothing may fsync in it again.
        var isDeleted = false
        /// A flush made due by `flush.messages` is queued and has not taken its target yet:
        /// appends meanwhile do not queue another.
        var flushQueued = false
        /// Counts changes that rewrite existing offsets (truncation, emptying, deletion): a log
        /// cleaner's output made before one no longer matches the log and is not swapped in.
        var generation = 0
        /// The lowest offset the log was truncated to since the cleaner last recorded its
        /// checkpoint: records from there on are new to the cleaner, however far its
        /// checkpoint says it got (Kafka lowers the checkpoint on truncation).
        var truncatedSinceCleaning: Int64?

        var active: LogSegment { segments[segments.count - 1] }
        var logEndOffset: Int64 { active.nextOffset }

        /// Moves the high watermark up to what replication asked for, but, when every append is
        /// fsynced before it is acknowledged, no further than what is durable: a consumer must
        /// never read (and commit past) a record whose producer may still get an error.
        mutating func advanceHighWatermark() {
            let readable = config.syncsBeforeAcknowledge ? min(replicatedHighWatermark, recoveryPoint) : replicatedHighWatermark
            highWatermark = max(highWatermark, min(readable, logEndOffset))
        }
    }

    let state: Mutex<State>
    /// Roll snapshots that could not be written since the broker last asked
    /// (`takeProducerSnapshotFailures`); atomic because they are written outside the lock.
    let producerSnapshotFailures = Atomic<Int>(0)
    let clock: @Sendable () -> Int64
    /// This partition's fsync queue: group commits, and flushes and snapshots appends leave to it.
    let groupCommit: GroupCommit
    /// fsyncs go through this (tests inject failures).
    let syncer: FileSyncer
    /// Shared by every log of the data directory: an fsync failure in one takes them all offline.
    let directoryFailures: LogDirectoryFailureChannel
    /// The data directory (log.dirs entry) this partition's directory is in.
    public let dataDirectory: String
    /// Told the offset a truncation cut the log to (the log cleaner lowers its checkpoint).
    /// Called after the partition's lock is released.
    let truncationObserver = Mutex<(@Sendable (PartitionLog, Int64) -> Void)?>(nil)

    /// Opens (or creates) the log in `directory`, recovering it if the last shutdown was not clean.
    public init(
        directory: String, topicPartition: TopicPartition, config: LogConfig, recoveryPoint: Int64 = 0,
        logStartOffset: Int64 = 0, highWatermark: Int64 = 0, hadCleanShutdown: Bool,
        clock: @escaping @Sendable () -> Int64 = PartitionLog.wallClockMilliseconds,
        syncer: FileSyncer = .system, directoryFailures: LogDirectoryFailureChannel = LogDirectoryFailureChannel()
    ) throws(StorageError) {
        let config = try config.validated()
        self.topicPartition = topicPartition
        self.directory = directory
        self.clock = clock
        self.syncer = syncer
        self.directoryFailures = directoryFailures
        dataDirectory = FileSystem.parent(of: directory)
        let loaded = try LogLoader.load(
            directory: directory, config: config, recoveryPoint: recoveryPoint, logStartOffset: logStartOffset,
            hadCleanShutdown: hadCleanShutdown)
        let segments = loaded.segments
        let logEnd = segments.last!.nextOffset
        let (loadedEpochs, epochProblem) = try LeaderEpochCache.loadOrRebuild(path: directory + "/leader-epoch-checkpoint", segments: segments)
        var epochs = loadedEpochs
        if epochs.truncate(fromEnd: logEnd) { try epochs.write() }
        if loaded.recoveredSegments > 0 {
            // What recovery validated is made durable before it counts as recovered.
            for segment in segments { try segment.sync() }
        }
        let start = min(max(logStartOffset, segments[0].baseOffset), logEnd)
        // After a clean shutdown or a recovery (which fsyncs what it validated) all is durable.
        let durable = hadCleanShutdown || loaded.recoveredSegments > 0 ? logEnd : min(recoveryPoint, logEnd)
        let producers = try ProducerSnapshots.rebuild(
            directory: directory, segments: segments, logStartOffset: start, logEndOffset: logEnd)
        let restoredHighWatermark = min(max(highWatermark, start), logEnd)
        state = Mutex(State(
            config: config, segments: segments, logStartOffset: start,
            highWatermark: restoredHighWatermark, replicatedHighWatermark: restoredHighWatermark,
            recoveryPoint: durable, lastFlushTime: clock(), leaderEpochs: epochs, producerState: producers))
        groupCommit = GroupCommit(durableOffset: durable, label: topicPartition.description)
        self.recoveredBytes = loaded.truncatedBytes
        damage = loaded.damage
        let distrusted = loaded.distrustedRecoveryPoint.map {
            StartupProblem(.warning, "\(directory): recovery point \($0) is past the log end \(logEnd); recovered every segment")
        }
        startupProblems = loaded.damage.map { StartupProblem(.error, $0.description) } + [distrusted, epochProblem].compactMap { $0 }
            + loaded.swapNotes.map { StartupProblem(.warning, $0) }
    }

    /// Bytes recovery truncated at start-up (torn or corrupt tails).
    public let recoveredBytes: Int
    /// The segments loading found damaged, cut and moved aside (see LogLoader).
    public let damage: [SegmentDamage]
    /// What loading found wrong and repaired, for the broker's start-up log.
    public let startupProblems: [StartupProblem]

    /// Milliseconds since the Unix epoch, the unit of Kafka timestamps.
    public static let wallClockMilliseconds: @Sendable () -> Int64 = {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }

    public var offsets: Offsets {
        state.withLock { state in
            Offsets(
                logStartOffset: state.logStartOffset, logEndOffset: state.logEndOffset,
                highWatermark: state.highWatermark, recoveryPoint: state.recoveryPoint)
        }
    }

    public var config: LogConfig { state.withLock { $0.config } }

    public func update(config: LogConfig) throws(StorageError) {
        let validated = try config.validated()
        state.withLock { $0.config = validated }
    }

    /// Total bytes of all segments.
    public var sizeInBytes: Int { state.withLock { $0.segments.reduce(0) { $0 + $1.size } } }
    public var segmentCount: Int { state.withLock { $0.segments.count } }
    public var segmentBaseOffsets: [Int64] { state.withLock { $0.segments.map(\.baseOffset) } }

    // MARK: Appending

    /// Appends a validated batch: assigns its offsets from the log end, stamps `leaderEpoch`,
    /// and writes it. With `flush.messages=1` the caller then awaits `waitUntilDurable`. Never
    /// fsyncs itself: a flush due by `flush.messages` and a roll's producer snapshot run on the
    /// partition's fsync queue, since callers run on event loops.
    /// Throws `StorageError`, or `ProducerStateError` for an idempotent producer's batch out of
    /// sequence or from a fenced epoch.
    /// `origin`, when given, is recorded in the segment's trace sidecar (`runnel trace`).
    public func append(_ batch: RecordBatch, leaderEpoch: Int32, origin: BatchOrigin? = nil) throws -> AppendResult {
        let now = clock()
        // A roll's producer snapshot is written once the lock is released (see `roll`), and
        // like a due flush on the partition's fsync queue: the caller is an event loop.
        var rolled: PendingProducerSnapshot?
        defer { if let rolled { groupCommit.enqueue { [self] in writeRolledSnapshot(rolled) } } }
        let (result, flushDue): (AppendResult, Bool) = try state.withLock { state in
            try checkAvailable(state)
            if case .duplicate(let first, let last) = try state.producerState.check(batch.header) {
                return (AppendResult(baseOffset: first, lastOffset: last, isDuplicate: true), false)
            }
            let written = try write(batch, at: state.logEndOffset, leaderEpoch: leaderEpoch, into: &state, now: now, rolled: &rolled)
            if let origin {
                var header = batch.header
                header.baseOffset = written.0.baseOffset
                state.active.recordOrigin(header, origin: origin, appendTimeMs: now)
            }
            return written
        }
        // A failed flush takes the directory offline (see `flush`): later appends then fail.
        if flushDue { groupCommit.enqueue { [self] in _ = try? flush() } }
        return result
    }

    /// Writes `batch` at `baseOffset` (the log end) stamped with `leaderEpoch`, rolling first
    /// if due: the part of an append shared by the leader (offsets assigned here) and a
    /// follower (offsets as the leader assigned them). Returns the result and whether a flush
    /// became due. Called under the state lock.
    func write(
        _ batch: RecordBatch, at baseOffset: Int64, leaderEpoch: Int32, into state: inout State, now: Int64,
        rolled: inout PendingProducerSnapshot?
    ) throws -> (AppendResult, Bool) {
        let size = batch.header.totalSize
        guard size <= state.config.segmentBytes else {
            throw StorageError(.batchTooLarge, "batch of \(size) bytes exceeds segment.bytes \(state.config.segmentBytes)")
        }
        // lastOffset + 1 becomes the log end offset: it must fit (a validated batch has
        // lastOffsetDelta >= 0).
        guard baseOffset <= Int64.max - 1 - Int64(batch.header.lastOffsetDelta) else {
            throw StorageError(.offsetsExhausted, "log end offset \(baseOffset) leaves no room for \(batch.header.recordsCount) records")
        }
        let lastOffset = baseOffset + Int64(batch.header.lastOffsetDelta)
        rolled = try rollIfNeeded(&state, incomingBytes: size, lastOffset: lastOffset, now: now)

        // Stamp baseOffset and partitionLeaderEpoch into a 16-byte head; the rest of the
        // batch goes to disk from the producer's buffer untouched (one pwritev).
        var head = ByteBufferAllocator().buffer(capacity: 16)
        head.writeInteger(baseOffset, endianness: .big)
        head.writeInteger(batch.header.batchLength, endianness: .big)
        head.writeInteger(leaderEpoch, endianness: .big)
        let body = batch.bytes.getSlice(at: batch.bytes.readerIndex + 16, length: size - 16)!
        var header = batch.header
        header.baseOffset = baseOffset
        header.partitionLeaderEpoch = leaderEpoch
        try state.active.append(head: head, body: body, header: header, now: now)
        state.producerState.update(header)

        if state.leaderEpochs.assign(epoch: leaderEpoch, startOffset: baseOffset) { try state.leaderEpochs.write() }
        state.unflushedMessages += Int64(batch.header.recordsCount)
        let flushDue = state.config.flushMessages > 1 && state.unflushedMessages >= state.config.flushMessages
            && !state.flushQueued
        if flushDue { state.flushQueued = true }
        return (AppendResult(baseOffset: baseOffset, lastOffset: lastOffset), flushDue)
    }

    private func rollIfNeeded(
        _ state: inout State, incomingBytes: Int, lastOffset: Int64, now: Int64
    ) throws(StorageError) -> PendingProducerSnapshot? {
        let active = state.active
        guard active.size > 0 else { return nil }
        let full = active.size + incomingBytes > state.config.segmentBytes
        let old = active.firstAppendTime.map { now - $0 >= state.config.rollMs } ?? false
        guard full || old || active.isIndexFull || !active.canHold(lastOffset: lastOffset, bytes: incomingBytes) else { return nil }
        return try roll(&state)
    }

    /// Starts a new segment at the log end. The producer state as of that offset is returned as
    /// a copy to be written after the lock is released (`writeProducerSnapshot`): serializing
    /// and fsyncing every producer's entry must not stall the partition's appends and reads.
    /// The copy is taken here, under the lock, so it is exactly the state of [0, newBase).
    private func roll(_ state: inout State) throws(StorageError) -> PendingProducerSnapshot {
        let newBase = state.logEndOffset
        try state.active.becomeInactive()
        let segment = try LogSegment(directory: directory, baseOffset: newBase, config: state.config, recover: false)
        state.segments.append(segment)
        return PendingProducerSnapshot(state: state.producerState, offset: newBase, segment: segment)
    }

    /// Starts a new segment now (`segment.ms` checks and tests), then writes its producer snapshot.
    public func roll() throws(StorageError) {
        let rolled = try state.withLock { state throws(StorageError) -> PendingProducerSnapshot? in
            guard state.active.size > 0 else { return nil }
            return try roll(&state)
        }
        if let rolled { try writeProducerSnapshot(rolled) }
    }

    /// Returns once every offset below `offset` is on disk (fsync-before-acknowledge).
    public func waitUntilDurable(_ offset: Int64) async throws {
        try await groupCommit.waitUntilDurable(offset) { [weak self] () throws -> Int64 in
            guard let self else { throw StorageError(.closed, "log closed") }
            return try self.flush()
        }
    }

    /// fsyncs everything appended so far and returns the offset it covers. The fsync runs
    /// outside the lock, so appends go on while it waits for the disk.
    ///
    /// A failed fsync takes the whole data directory offline (`LogDirectoryFailureChannel`) and
    /// leaves the recovery point where it was: a later fsync that succeeds cannot vouch for the
    /// bytes the failed one covered, so nothing written since the last good flush is ever called
    /// durable by this process. Throws `logDirectoryOffline` from then on.
    @discardableResult
    public func flush() throws(StorageError) -> Int64 {
        let taken: (Int64, [LogFile], Bool)? = try state.withLock { state throws(StorageError) in
            state.flushQueued = false
            // A deleted partition has nothing left to make durable (and no directory to fsync).
            guard !state.isDeleted else { return nil }
            try checkAvailable(state, closedIsFine: true)
            let target = state.logEndOffset
            // Segments that may hold unflushed bytes: from the one holding the recovery point.
            // The active segment's indexes are rebuilt by recovery, so only rolled ones sync them.
            let lastIndex = state.segments.count - 1
            let files = state.segments.enumerated().filter { index, segment in
                segment.nextOffset > state.recoveryPoint || index == lastIndex
            }.flatMap { index, segment in segment.filesToSync(includingIndexes: index < lastIndex) }
            // A segment created since the last flush (a roll) exists only as a directory entry
            // that is not durable until the partition directory itself is fsynced.
            let newSegments = state.segments.contains { $0.baseOffset >= state.recoveryPoint }
            state.unflushedMessages = 0
            return (target, files, newSegments)
        }
        guard let (target, files, newSegments) = taken else { throw StorageError(.closed, "\(topicPartition) was deleted") }
        do {
            for file in files { try syncer.syncFile(file) }
            if newSegments { try syncer.syncDirectory(directory) }
        } catch {
            // A deletion that raced this flush removed the files: not a failing disk.
            if state.withLock({ $0.isDeleted }) { throw StorageError(.closed, "\(topicPartition) was deleted") }
            let reason = "fsync in \(directory) failed: \(error.detail)"
            directoryFailures.markOffline(dataDirectory, reason: reason)
            throw StorageError(.logDirectoryOffline, reason)
        }
        try state.withLock { state throws(StorageError) in
            // Another flush may have failed while this one waited for the disk: then this
            // success proves nothing about the bytes that one lost.
            try checkAvailable(state, closedIsFine: true)
            state.recoveryPoint = max(state.recoveryPoint, target)
            state.lastFlushTime = clock()
            state.advanceHighWatermark()
        }
        groupCommit.markDurable(target)
        return target
    }

    /// Throws if the log may not be used: its directory is offline, or (unless `closedIsFine`,
    /// for the flush that closing runs) it was closed.
    func checkAvailable(_ state: State, closedIsFine: Bool = false) throws(StorageError) {
        if let reason = directoryFailures.offlineReason(dataDirectory) {
            throw StorageError(.logDirectoryOffline, "\(topicPartition) is in offline log directory \(dataDirectory) (\(reason))")
        }
        guard closedIsFine || !state.isClosed else { throw StorageError(.closed, "\(topicPartition) is closed") }
    }

    /// Whether the data directory holding this log is offline after an fsync failure.
    public var isOffline: Bool { directoryFailures.offlineReason(dataDirectory) != nil }

    /// The `flush.ms` policy: fsyncs when unflushed data is older than the setting.
    public func flushIfDue(now: Int64) throws(StorageError) {
        let due = state.withLock { state in
            state.recoveryPoint < state.logEndOffset && state.config.flushMs != Int64.max
                && now - state.lastFlushTime >= state.config.flushMs
        }
        if due { try flush() }
    }

    /// The producer's latest epoch in this partition, if it has written here.
    public func producerEpoch(of producerId: Int64) -> Int16? {
        state.withLock { $0.producerState.epoch(of: producerId) }
    }

    /// Moves the high watermark up to `offset` (never down: appends from several connections
    /// may report their ends out of order; only truncation lowers it). When the log syncs
    /// before acknowledging, the part of that move not yet durable waits for the next flush.
    public func updateHighWatermark(_ offset: Int64) {
        state.withLock { state in
            let wanted = min(max(offset, state.logStartOffset), state.logEndOffset)
            state.replicatedHighWatermark = max(state.replicatedHighWatermark, wanted)
            state.advanceHighWatermark()
        }
    }
}
