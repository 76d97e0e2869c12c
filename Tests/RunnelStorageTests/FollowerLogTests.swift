import NIOCore
import RunnelProtocol
import Testing
@testable import RunnelStorage

/// What replication needs of the log: follower appends that keep the leader's bytes, epoch
/// bookkeeping with Kafka's answers, truncation of epochs, and a follower's high watermark.
@Suite struct FollowerLogTests {
    func open(_ directory: TemporaryDirectory, _ name: String) throws -> PartitionLog {
        try PartitionLog(
            directory: directory.path + "/" + name, topicPartition: testPartition, config: smallSegmentsConfig(), hadCleanShutdown: true)
    }

    /// Every batch of `log`, as served to a fetch.
    func batches(of log: PartitionLog) throws -> [RecordBatch] {
        var result: [RecordBatch] = []
        var offset = log.offsets.logStartOffset
        while let slice = try log.read(from: offset, maxBytes: 64 * 1024) {
            for bytes in RecordSet(try slice.readBytes()) { result.append(try RecordBatch(validating: bytes)) }
            offset = slice.nextOffset
        }
        return result
    }

    func idempotentBatch(sequence: Int32, values: [[UInt8]]) throws -> RecordBatch {
        var builder = RecordBatchBuilder()
        builder.producerId = 42
        builder.producerEpoch = 0
        builder.baseSequence = sequence
        for value in values { builder.append(key: nil, value: value, timestamp: 1) }
        return try RecordBatch(validating: builder.build())
    }

    @Test func aFollowerBuiltFromItsLeadersBatchesHoldsTheSameBytesOffsetsAndEpochs() throws {
        let directory = TemporaryDirectory()
        let leader = try open(directory, "leader")
        let follower = try open(directory, "follower")
        for round in 0..<60 {
            let values = (0..<(round % 5 + 1)).map { [UInt8(truncatingIfNeeded: round), UInt8($0)] + Array(repeating: 7, count: 300) }
            _ = try leader.append(try makeBatch(values: values, timestamps: values.map { _ in Int64(round) }), leaderEpoch: round < 30 ? 0 : 3)
        }
        for batch in try batches(of: leader) { _ = try follower.appendAsFollower(batch) }
        #expect(follower.offsets.logEndOffset == leader.offsets.logEndOffset)
        #expect(try batches(of: follower).map { Array($0.bytes.readableBytesView) } == batches(of: leader).map { Array($0.bytes.readableBytesView) })
        #expect(follower.latestLeaderEpoch == 3)
        let epochZero = try #require(leader.endOffset(forLeaderEpoch: 0))
        #expect(follower.endOffset(forLeaderEpoch: 0)! == epochZero)
        #expect(follower.segmentCount > 1, "the follower rolls as the leader does")
    }

    @Test func aFollowerAppendMayNotGoBelowTheLogEnd() throws {
        let directory = TemporaryDirectory()
        let leader = try open(directory, "leader")
        let follower = try open(directory, "follower")
        for _ in 0..<3 { _ = try leader.append(try makeBatch(values: [[1]], timestamps: [1]), leaderEpoch: 0) }
        let all = try batches(of: leader)
        _ = try follower.appendAsFollower(all[1])
        #expect(follower.offsets.logEndOffset == 2)
        #expect(throws: StorageError.self) { try follower.appendAsFollower(all[0]) }
        #expect(throws: StorageError.self) { try follower.appendAsFollower(all[1]) }
        #expect(follower.offsets.logEndOffset == 2)
    }

    /// A segment too small for an index entry whose first batch starts above its base offset
    /// (what a cleaned segment looks like) loads as it is.
    @Test func aSmallSegmentStartingAboveItsBaseLoadsWithoutRecovery() throws {
        let directory = TemporaryDirectory()
        let leader = try open(directory, "leader")
        let follower = try open(directory, "follower")
        for value in 0..<3 { _ = try leader.append(try makeBatch(values: [[UInt8(value)], [1]], timestamps: [1, 1]), leaderEpoch: 0) }
        _ = try follower.appendAsFollower(try batches(of: leader)[2])
        #expect(follower.offsets.logEndOffset == 6)
        try follower.close()
        let loaded = try LogLoader.load(
            directory: directory.path + "/follower", config: smallSegmentsConfig(), recoveryPoint: 6, logStartOffset: 0, hadCleanShutdown: true)
        #expect(loaded.segments.count == 1 && loaded.segments[0].baseOffset == 0)
        #expect(!loaded.segments[0].wasRecovered)
        #expect(loaded.segments[0].nextOffset == 6)
    }

    /// A compacted leader's log skips the offsets its cleaner removed: a follower takes the
    /// batches with their gaps, serves them, and reopens without recovering its segments.
    @Test func aFollowerKeepsTheLeadersOffsetGapsAndReopensWithoutRecovery() throws {
        let directory = TemporaryDirectory()
        let leader = try open(directory, "leader")
        let follower = try open(directory, "follower")
        for value in 0..<40 { _ = try leader.append(try makeBatch(values: [[UInt8(value)]] + Array(repeating: Array(repeating: 1, count: 200), count: 3), timestamps: [1, 1, 1, 1]), leaderEpoch: 0) }
        // Every third batch is missing, as if cleaned away (offsets 0-3, 12-15, ...).
        let kept = try batches(of: leader).enumerated().filter { $0.offset % 3 != 0 }.map(\.element)
        for batch in kept { _ = try follower.appendAsFollower(batch) }
        let end = kept.last!.header.lastOffset + 1
        #expect(follower.offsets.logEndOffset == end)
        #expect(follower.segmentCount > 1)
        #expect(try batches(of: follower).map(\.header.baseOffset) == kept.map(\.header.baseOffset))
        // A read at a skipped offset answers from the next batch there is.
        let slice = try #require(try follower.read(from: 12, maxBytes: 64 * 1024))
        #expect(try RecordBatch(validating: RecordSet(try slice.readBytes()).first { _ in true }!).header.baseOffset == 16)
        try follower.close()
        let loaded = try LogLoader.load(
            directory: directory.path + "/follower", config: smallSegmentsConfig(), recoveryPoint: end,
            logStartOffset: 0, hadCleanShutdown: true)
        let keptBases = Set(kept.map(\.header.baseOffset))
        #expect(loaded.segments.contains { !keptBases.contains($0.baseOffset) }, "some segment starts with a gap")
        #expect(loaded.segments.allSatisfy { !$0.wasRecovered }, "segments starting with a gap load without recovery")
        #expect(loaded.segments.last!.nextOffset == end)
    }

    @Test func producerStateFollowsWithoutChecksSoAFollowerThatLeadsDeduplicatesRetries() throws {
        let directory = TemporaryDirectory()
        let leader = try open(directory, "leader")
        let follower = try open(directory, "follower")
        _ = try leader.append(try idempotentBatch(sequence: 0, values: [[1], [2]]), leaderEpoch: 0)
        for batch in try batches(of: leader) { _ = try follower.appendAsFollower(batch) }
        // The follower becomes leader; the producer retries the batch it had no answer for.
        let retried = try follower.append(try idempotentBatch(sequence: 0, values: [[1], [2]]), leaderEpoch: 1)
        #expect(retried.isDuplicate && retried.baseOffset == 0)
        #expect(follower.offsets.logEndOffset == 2)
    }

    @Test func epochAnswersAreKafkasAndAnEpochAssignedAtTheEndIsTruncatedWithIt() throws {
        let directory = TemporaryDirectory()
        let log = try open(directory, "log")
        for epoch: Int32 in [2, 2, 5] { _ = try log.append(try makeBatch(values: [[1]], timestamps: [1]), leaderEpoch: epoch) }
        // Epochs 2 (offsets 0-1) and 5 (offset 2); log end 3.
        #expect(log.endOffset(forLeaderEpoch: 2)! == (2, 2))
        #expect(log.endOffset(forLeaderEpoch: 3)! == (2, 2), "an unknown epoch between: the one before, ending where the next starts")
        #expect(log.endOffset(forLeaderEpoch: 1)! == (1, 0), "below the first: that epoch, ending where the first starts")
        #expect(log.endOffset(forLeaderEpoch: 5)! == (5, 3))
        #expect(log.endOffset(forLeaderEpoch: 6) == nil && log.endOffset(forLeaderEpoch: -1) == nil)

        // A new leader's epoch starts at its log end, before any append of its own.
        try log.assignEpochStart(7)
        #expect(log.latestLeaderEpoch == 7 && log.endOffset(forLeaderEpoch: 5)! == (5, 3))
        // Truncating to the log end (nothing to cut) still forgets that epoch.
        try log.truncate(to: 3)
        #expect(log.latestLeaderEpoch == 5)
        // Truncating into epoch 5 forgets it too.
        try log.truncate(to: 2)
        #expect(log.latestLeaderEpoch == 2 && log.offsets.logEndOffset == 2)
    }

    @Test func aFollowersHighWatermarkFollowsTheLeaderDownButNotPastItsEnd() throws {
        let directory = TemporaryDirectory()
        let log = try open(directory, "log")
        for _ in 0..<5 { _ = try log.append(try makeBatch(values: [[1]], timestamps: [1]), leaderEpoch: 0) }
        log.setFollowerHighWatermark(9)
        #expect(log.offsets.highWatermark == 5)
        log.setFollowerHighWatermark(2)
        #expect(log.offsets.highWatermark == 2)
    }

    /// Under fsync-before-acknowledge, what a follower appends after a truncation is fsynced
    /// again before it counts as durable, even at offsets that were durable before the cut.
    @Test func appendsAfterATruncationAreFsyncedAgain() async throws {
        let directory = TemporaryDirectory()
        let syncs = ScriptedSyncer()
        var config = LogConfig()
        config.flushMessages = 1
        let log = try PartitionLog(
            directory: directory.path + "/f", topicPartition: testPartition, config: config, hadCleanShutdown: true, syncer: syncs.syncer)
        for value in 0..<4 { _ = try log.append(try makeBatch(values: [[UInt8(value)]], timestamps: [1]), leaderEpoch: 0) }
        try await log.waitUntilDurable(4)
        try log.truncate(to: 2)
        let before = syncs.calls.withLock { $0.files.count }
        _ = try log.append(try makeBatch(values: [[9]], timestamps: [1]), leaderEpoch: 1)
        try await log.waitUntilDurable(3)
        #expect(syncs.calls.withLock { $0.files.count } > before, "offset 2 was rewritten and must be fsynced again")
        #expect(log.offsets.recoveryPoint == 3)
        try log.close()
    }

    /// A follower whose log ends before its leader's log start restarts empty at that start.
    @Test func aLogTruncatedFullyStartsAgainAtTheGivenOffset() throws {
        let directory = TemporaryDirectory()
        let leader = try open(directory, "leader")
        let follower = try open(directory, "follower")
        for value in 0..<10 { _ = try leader.append(try makeBatch(values: [[UInt8(value)]], timestamps: [1]), leaderEpoch: 2) }
        for batch in try batches(of: leader).prefix(3) { _ = try follower.appendAsFollower(batch) }
        try follower.truncateFully(startingAt: 7)
        #expect(follower.offsets == .init(logStartOffset: 7, logEndOffset: 7, highWatermark: 7, recoveryPoint: 7))
        #expect(follower.latestLeaderEpoch == nil)
        for batch in try batches(of: leader).suffix(3) { _ = try follower.appendAsFollower(batch) }
        #expect(follower.offsets.logEndOffset == 10)
        #expect(try batches(of: follower).map(\.header.baseOffset) == [7, 8, 9])
        // It reopens as it was left.
        try follower.close()
        let reopened = try PartitionLog(
            directory: directory.path + "/follower", topicPartition: testPartition, config: smallSegmentsConfig(), logStartOffset: 7,
            hadCleanShutdown: true)
        #expect(reopened.offsets.logStartOffset == 7 && reopened.offsets.logEndOffset == 10)
    }
}
