import Foundation
import RunnelProtocol
import Synchronization
import Testing
@testable import RunnelStorage

/// `producer.id.expiration.ms` and the producer snapshots written at rolls.
@Suite struct ProducerStateExpiryTests {
    static func batch(producer: Int64, sequence: Int32, count: Int = 1, timestamp: Int64, epoch: Int16 = 0) throws -> RecordBatch {
        var builder = RecordBatchBuilder()
        builder.producerId = producer
        builder.producerEpoch = epoch
        builder.baseSequence = sequence
        for index in 0..<count { builder.append(key: nil, value: [UInt8(truncatingIfNeeded: index)], timestamp: timestamp) }
        return try RecordBatch(validating: builder.build())
    }

    static func header(producer: Int64, sequence: Int32, offset: Int64, timestamp: Int64) throws -> RecordBatchHeader {
        var header = try batch(producer: producer, sequence: sequence, timestamp: timestamp).header
        header.baseOffset = offset
        return header
    }

    @Test func producersExpireByTheirLatestBatchTimestamp() throws {
        var state = ProducerState()
        state.update(try Self.header(producer: 1, sequence: 0, offset: 0, timestamp: 1_000))
        state.update(try Self.header(producer: 2, sequence: 0, offset: 1, timestamp: 1_000))
        // Producer 2 writes again later: its age counts from its latest batch.
        state.update(try Self.header(producer: 2, sequence: 1, offset: 2, timestamp: 5_000))

        let notYet = state.removeExpired(now: 2_999, expirationMs: 2_000)
        #expect(notYet == 0)
        let first = state.removeExpired(now: 3_000, expirationMs: 2_000)
        #expect(first == 1)
        #expect(state.epoch(of: 1) == nil)
        #expect(state.epoch(of: 2) == 0)
        let second = state.removeExpired(now: 7_000, expirationMs: 2_000)
        #expect(second == 1)
        #expect(state.producerCount == 0)
    }

    @Test func hostileTimestampsNeitherTrapNorKeepProducersForever() throws {
        var state = ProducerState()
        state.update(try Self.header(producer: 1, sequence: 0, offset: 0, timestamp: Int64.min))
        state.update(try Self.header(producer: 2, sequence: 0, offset: 1, timestamp: Int64.max))
        // now - Int64.min overflows: a timestamp that far in the past is expired; one in the
        // far future is not (its age is negative), as in Kafka.
        let removed = state.removeExpired(now: 1_000, expirationMs: 86_400_000)
        #expect(removed == 1)
        #expect(state.epoch(of: 1) == nil && state.epoch(of: 2) == 0)
    }

    /// Before expiry a retried batch is a duplicate and a restart at sequence 0 is out of
    /// order; after it the producer is unknown, and Kafka accepts any sequence from an unknown
    /// producer, so the same batch is appended again.
    @Test func anExpiredProducersSequencesAreForgottenThroughTheLog() throws {
        let directory = TemporaryDirectory()
        let now = Atomic<Int64>(10_000)
        let log = try PartitionLog(
            directory: directory.path + "/events-0", topicPartition: testPartition, config: smallSegmentsConfig(),
            hadCleanShutdown: true, clock: { now.load(ordering: .relaxed) })
        let first = try log.append(try Self.batch(producer: 9, sequence: 0, count: 2, timestamp: 10_000), leaderEpoch: 0)
        _ = try log.append(try Self.batch(producer: 9, sequence: 2, timestamp: 10_000), leaderEpoch: 0)

        let retry = try log.append(try Self.batch(producer: 9, sequence: 0, count: 2, timestamp: 10_000), leaderEpoch: 0)
        #expect(retry.isDuplicate && retry.baseOffset == first.baseOffset)
        #expect(throws: ProducerStateError.self) {
            try log.append(try Self.batch(producer: 9, sequence: 0, count: 1, timestamp: 10_000), leaderEpoch: 0)
        }

        #expect(log.removeExpiredProducers(now: 10_999, expirationMs: 1_000) == 0)
        #expect(log.producerCount == 1)
        #expect(log.removeExpiredProducers(now: 11_000, expirationMs: 1_000) == 1)
        #expect(log.producerCount == 0)
        let again = try log.append(try Self.batch(producer: 9, sequence: 0, count: 2, timestamp: 11_000), leaderEpoch: 0)
        #expect(!again.isDuplicate)
        #expect(again.baseOffset == 3)
    }

    /// The state of [0, N) as the log holds it: every stored batch below `end`, replayed.
    static func replayedState(_ log: PartitionLog, below end: Int64) throws -> ProducerState {
        var state = ProducerState()
        var offset = log.offsets.logStartOffset
        while offset < end, let slice = try log.read(from: offset, maxBytes: 1 << 20) {
            for bytes in RecordSet(try slice.readBytes()) {
                let batch = try RecordBatch(validating: bytes)
                if batch.header.baseOffset < end { state.update(batch.header) }
            }
            offset = slice.nextOffset
        }
        return state
    }

    static func snapshot(in path: String, at offset: Int64) throws -> ProducerState {
        try ProducerState(serialized: String(contentsOfFile: ProducerSnapshots.path(directory: path, offset: offset), encoding: .utf8))
    }

    /// Snapshots are written after the roll released the lock (on the partition's fsync
    /// queue), but each still holds exactly the state of the batches below its offset: none of
    /// those appended after the roll.
    @Test func eachRollSnapshotHoldsExactlyTheStateBelowItsOffset() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        var config = smallSegmentsConfig(segmentBytes: 2048)
        config.indexIntervalBytes = 0
        let log = try PartitionLog(directory: path, topicPartition: testPartition, config: config, hadCleanShutdown: true)
        var sequences: [Int64: Int32] = [:]
        for round in 0..<150 {
            let producer = Int64(round % 7)
            let sequence = sequences[producer, default: 0]
            _ = try log.append(try Self.batch(producer: producer, sequence: sequence, count: 3, timestamp: Int64(1_000 + round)), leaderEpoch: 0)
            sequences[producer] = sequence + 3
        }
        #expect(log.segmentCount > 3)
        // Roll snapshots are written on the partition's fsync queue: wait for them.
        log.groupCommit.drain()
        let snapshots = try ProducerSnapshots.offsets(in: path)
        #expect(snapshots.count == ProducerSnapshots.kept)
        for offset in snapshots {
            let written = try Self.snapshot(in: path, at: offset)
            #expect(written == (try Self.replayedState(log, below: offset)))
            #expect(written != (try Self.replayedState(log, below: log.offsets.logEndOffset)))
        }

        // The explicit roll writes one too, at the log end.
        let end = log.offsets.logEndOffset
        try log.roll()
        _ = try log.append(try Self.batch(producer: 100, sequence: 0, timestamp: 5_000), leaderEpoch: 0)
        let atEnd = try Self.snapshot(in: path, at: end)
        #expect(atEnd == (try Self.replayedState(log, below: end)))
        #expect(atEnd.epoch(of: 100) == nil)
        #expect(atEnd.producerCount == 7)
    }

    /// A roll's snapshot is published only if its segment is still in the log: a truncation
    /// below it (between the roll and the write) makes it describe a history that is gone.
    @Test func aSnapshotOfATruncatedHistoryIsNotPublished() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        let log = try PartitionLog(directory: path, topicPartition: testPartition, config: smallSegmentsConfig(), hadCleanShutdown: true)
        _ = try log.append(try Self.batch(producer: 1, sequence: 0, timestamp: 1), leaderEpoch: 0)
        try log.roll()
        _ = try log.append(try Self.batch(producer: 1, sequence: 1, timestamp: 1), leaderEpoch: 0)
        // Roll at offset 2, as an append would, but hold its snapshot back.
        let pending = try log.state.withLock { state throws(StorageError) -> PendingProducerSnapshot in
            try state.active.becomeInactive()
            let segment = try LogSegment(directory: path, baseOffset: 2, config: state.config, recover: false)
            state.segments.append(segment)
            return PendingProducerSnapshot(state: state.producerState, offset: 2, segment: segment)
        }
        try log.truncate(to: 1)
        try log.writeProducerSnapshot(pending)
        #expect(!FileManager.default.fileExists(atPath: ProducerSnapshots.path(directory: path, offset: 2)))
        #expect(try FileManager.default.contentsOfDirectory(atPath: path).allSatisfy { !$0.hasSuffix(".tmp") })
    }

    @Test func snapshotsRoundTripAndOtherLayoutsAreRefused() throws {
        var state = ProducerState()
        state.update(try Self.header(producer: 3, sequence: 0, offset: 0, timestamp: 1_234))
        state.update(try Self.header(producer: 4, sequence: 0, offset: 1, timestamp: -1))
        #expect(try ProducerState(serialized: state.serialized()) == state)
        // The layout before timestamps were kept: refused, so the state is rebuilt from the log.
        #expect(throws: StorageError.self) { try ProducerState(serialized: "3 0 0 0 0 0\n") }
        #expect(throws: StorageError.self) {
            try ProducerState(serialized: ProducerState.snapshotVersionLine + "\n3 99999 0 0 0 0 0\n")
        }
    }
}
