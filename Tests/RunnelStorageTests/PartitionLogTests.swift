import Foundation
import NIOCore
import RunnelCodecs
import RunnelProtocol
import Testing
@testable import RunnelStorage

@Suite struct PartitionLogTests {
    /// Appends random batches with non-monotonic timestamps, returning what went in.
    static func fill(_ log: PartitionLog, batches: Int, seed: UInt64) throws -> [TestRecord] {
        var generator = SeededGenerator(seed: seed)
        var expected: [TestRecord] = []
        for _ in 0..<batches {
            let count = Int.random(in: 1...20, using: &generator)
            let values = (0..<count).map { _ in
                (0..<Int.random(in: 1...300, using: &generator)).map { _ in UInt8.random(in: 97...122, using: &generator) }
            }
            let timestamps = (0..<count).map { _ in Int64.random(in: 1_000_000...2_000_000, using: &generator) }
            let codec = [CompressionCodec.none, .none, .lz4, .zstd].randomElement(using: &generator)!
            let result = try log.append(try makeBatch(values: values, timestamps: timestamps, codec: codec), leaderEpoch: 3)
            #expect(result.lastOffset - result.baseOffset == Int64(count - 1))
            for index in 0..<count {
                expected.append(TestRecord(offset: result.baseOffset + Int64(index), timestamp: timestamps[index], value: values[index]))
            }
        }
        return expected
    }

    @Test func appendAndReadAcrossManySegments() throws {
        let directory = TemporaryDirectory()
        let log = try PartitionLog(
            directory: directory.path + "/events-0", topicPartition: testPartition, config: smallSegmentsConfig(),
            hadCleanShutdown: true)
        let expected = try Self.fill(log, batches: 400, seed: 1)
        #expect(log.segmentCount > 10)
        #expect(log.offsets.logEndOffset == Int64(expected.count))
        #expect(try readAll(log) == expected)
        #expect(try readAll(log, maxBytes: 1) == expected, "one whole batch per read even past maxBytes")
        #expect(try log.read(from: Int64(expected.count), maxBytes: 1000) == nil)
        #expect(throws: StorageError.self) { try log.read(from: Int64(expected.count) + 1, maxBytes: 1000) }
        // Stamps: offsets and the leader epoch are in the stored headers, CRCs still valid.
        let slice = try #require(try log.read(from: 0, maxBytes: 1))
        let first = try RecordBatch(validating: RecordSet(try slice.readBytes()).first { _ in true }!)
        #expect(first.header.partitionLeaderEpoch == 3)
        #expect(log.latestLeaderEpoch == 3)
    }

    @Test func readFromEveryOffsetMatchesABruteForceScan() throws {
        let directory = TemporaryDirectory()
        let log = try PartitionLog(
            directory: directory.path + "/events-0", topicPartition: testPartition,
            config: smallSegmentsConfig(segmentBytes: 64 * 1024, indexIntervalBytes: 512), hadCleanShutdown: true)
        let expected = try Self.fill(log, batches: 200, seed: 2)
        for offset in stride(from: Int64(0), to: Int64(expected.count), by: 7) {
            let slice = try #require(try log.read(from: offset, maxBytes: 1))
            let batch = try RecordBatch(validating: RecordSet(try slice.readBytes()).first { _ in true }!)
            #expect(batch.header.baseOffset <= offset && offset <= batch.header.lastOffset, "offset \(offset)")
        }
    }

    @Test func offsetForTimestampMatchesABruteForceScan() throws {
        let directory = TemporaryDirectory()
        let log = try PartitionLog(
            directory: directory.path + "/events-0", topicPartition: testPartition,
            config: smallSegmentsConfig(segmentBytes: 32 * 1024, indexIntervalBytes: 512), hadCleanShutdown: true)
        let expected = try Self.fill(log, batches: 300, seed: 3)
        var generator = SeededGenerator(seed: 4)
        let probes = (0..<150).map { _ in Int64.random(in: 990_000...2_010_000, using: &generator) }
            + expected.map(\.timestamp).shuffled(using: &generator).prefix(50)
        for timestamp in probes {
            let bruteForce = expected.first { $0.timestamp >= timestamp }?.offset
            #expect(try log.offset(forTimestamp: timestamp)?.offset == bruteForce, "timestamp \(timestamp)")
        }
        let newest = expected.map(\.timestamp).max()!
        let maxTimestamp = try #require(try log.maxTimestampAndOffset())
        #expect(maxTimestamp == TimestampAndOffset(timestamp: newest, offset: expected.first { $0.timestamp == newest }!.offset))
    }

    @Test func cleanReopenLoadsIndexesWithoutRecovery() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        let expected: [TestRecord]
        do {
            let log = try PartitionLog(directory: path, topicPartition: testPartition, config: smallSegmentsConfig(), hadCleanShutdown: true)
            expected = try Self.fill(log, batches: 150, seed: 5)
            try log.close()
            #expect(throws: StorageError.self) { try log.append(try makeBatch(values: [[1]], timestamps: [1]), leaderEpoch: 0) }
        }
        let reopened = try PartitionLog(
            directory: path, topicPartition: testPartition, config: smallSegmentsConfig(), recoveryPoint: Int64(expected.count),
            hadCleanShutdown: true)
        #expect(reopened.recoveredBytes == 0)
        #expect(reopened.offsets.logEndOffset == Int64(expected.count))
        #expect(try readAll(reopened) == expected)
        for timestamp in [Int64(1_500_000), 1_999_000] {
            #expect(try reopened.offset(forTimestamp: timestamp)?.offset == expected.first { $0.timestamp >= timestamp }?.offset)
        }
        let more = try reopened.append(try makeBatch(values: [[7, 7]], timestamps: [5]), leaderEpoch: 4)
        #expect(more.baseOffset == Int64(expected.count))
    }

    @Test func truncateRemovesTheTailAndAppendsContinue() throws {
        let directory = TemporaryDirectory()
        let log = try PartitionLog(
            directory: directory.path + "/events-0", topicPartition: testPartition, config: smallSegmentsConfig(), hadCleanShutdown: true)
        let expected = try Self.fill(log, batches: 100, seed: 6)
        // Truncate at a batch boundary in the middle of the log.
        let slice = try #require(try log.read(from: Int64(expected.count / 2), maxBytes: 1))
        try log.truncate(to: slice.firstOffset)
        #expect(log.offsets.logEndOffset == slice.firstOffset)
        #expect(try readAll(log) == Array(expected.prefix(Int(slice.firstOffset))))
        let next = try log.append(try makeBatch(values: [[1], [2]], timestamps: [10, 11]), leaderEpoch: 9)
        #expect(next.baseOffset == slice.firstOffset)
        #expect(log.endOffset(forLeaderEpoch: 3)?.endOffset == slice.firstOffset)
        #expect(try readAll(log).count == Int(slice.firstOffset) + 2)
    }

    @Test func retentionDeletesExactlyTheExpiredSegments() throws {
        let directory = TemporaryDirectory()
        var config = smallSegmentsConfig(segmentBytes: 4 * 1024)
        config.retentionMs = 1000
        let log = try PartitionLog(
            directory: directory.path + "/events-0", topicPartition: testPartition, config: config, hadCleanShutdown: true)
        // Segment k holds records stamped 10_000 * k, so expiry is easy to predict.
        for segment in 0..<6 {
            for _ in 0..<3 {
                let value = [UInt8](repeating: UInt8(segment), count: 1000)
                _ = try log.append(try makeBatch(values: [value], timestamps: [Int64(10_000 * segment)]), leaderEpoch: 0)
            }
            try log.roll()
        }
        // Six full segments stamped 0, 10_000 ... 50_000, and the empty active one the last roll made.
        let bases = log.segmentBaseOffsets
        #expect(bases == [0, 3, 6, 9, 12, 15, 18])
        // At 32_000 with retention.ms=1000, the segments stamped up to 30_000 are expired.
        #expect(try log.applyRetention(now: 32_000) == 4)
        #expect(log.segmentBaseOffsets == [12, 15, 18])
        #expect(log.offsets.logStartOffset == 12)
        #expect(throws: StorageError.self) { try log.read(from: 0, maxBytes: 100) }
        #expect(try readAll(log).map(\.offset) == Array(12..<18))
        // Much later every closed segment is expired; the active segment is never deleted.
        #expect(try log.applyRetention(now: 1_000_000) == 2)
        #expect(log.segmentBaseOffsets == [18])
        #expect(log.offsets.logStartOffset == 18)
    }

    @Test func retentionBytesKeepsTheNewestSegmentsUnderTheLimit() throws {
        let directory = TemporaryDirectory()
        var config = smallSegmentsConfig(segmentBytes: 4 * 1024)
        config.retentionMs = -1
        config.retentionBytes = 8 * 1024
        let log = try PartitionLog(
            directory: directory.path + "/events-0", topicPartition: testPartition, config: config, hadCleanShutdown: true)
        for index in 0..<40 {
            _ = try log.append(try makeBatch(values: [[UInt8](repeating: 1, count: 900)], timestamps: [Int64(index)]), leaderEpoch: 0)
        }
        let before = log.sizeInBytes
        try log.applyRetention(now: 0)
        #expect(log.sizeInBytes < before)
        #expect(log.sizeInBytes <= 8 * 1024 + 4 * 1024)
        #expect(log.sizeInBytes > 8 * 1024 - 4 * 1024)
        #expect(try readAll(log).count == Int(log.offsets.logEndOffset - log.offsets.logStartOffset))
    }

    @Test func deleteRecordsMovesTheLogStart() throws {
        let directory = TemporaryDirectory()
        let log = try PartitionLog(
            directory: directory.path + "/events-0", topicPartition: testPartition, config: smallSegmentsConfig(), hadCleanShutdown: true)
        let expected = try Self.fill(log, batches: 100, seed: 8)
        log.updateHighWatermark(Int64(expected.count))
        #expect(try log.deleteRecords(before: 500) == 500)
        #expect(throws: StorageError.self) { try log.read(from: 499, maxBytes: 100) }
        #expect(try readAll(log) == Array(expected[500...]))
        try log.applyRetention(now: 0)
        #expect(log.segmentBaseOffsets.first! <= 500)
        #expect(throws: StorageError.self) { try log.deleteRecords(before: Int64(expected.count) + 1) }
    }

    @Test func fsyncBeforeAcknowledgeGroupsConcurrentAppends() async throws {
        let directory = TemporaryDirectory()
        var config = LogConfig()
        config.flushMessages = 1
        let log = try PartitionLog(
            directory: directory.path + "/events-0", topicPartition: testPartition, config: config, hadCleanShutdown: true)
        #expect(config.syncsBeforeAcknowledge)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for producer in 0..<8 {
                group.addTask {
                    for index in 0..<25 {
                        let result = try log.append(
                            try makeBatch(values: [[UInt8(producer), UInt8(index)]], timestamps: [1]), leaderEpoch: 0)
                        try await log.waitUntilDurable(result.nextOffset)
                        #expect(log.offsets.recoveryPoint >= result.nextOffset)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(log.offsets.recoveryPoint == 200)
    }
}

/// A deterministic generator (SplitMix64), so failures reproduce.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct SegmentRollTests {
    @Test func rollsOnSegmentMsAndOnAFullIndex() throws {
        let directory = TemporaryDirectory()
        let now = ManualClock(milliseconds: 0)
        var config = LogConfig()
        config.segmentMs = 1000
        config.maxIndexBytes = 8 * 3  // three offset-index entries (two time-index entries)
        config.indexIntervalBytes = 1
        let log = try PartitionLog(
            directory: directory.path + "/events-0", topicPartition: testPartition, config: config, hadCleanShutdown: true,
            clock: { now.milliseconds })
        _ = try log.append(try makeBatch(values: [[1]], timestamps: [1]), leaderEpoch: 0)
        now.milliseconds = 999
        _ = try log.append(try makeBatch(values: [[2]], timestamps: [2]), leaderEpoch: 0)
        #expect(log.segmentCount == 1)
        now.milliseconds = 1000
        _ = try log.append(try makeBatch(values: [[3]], timestamps: [3]), leaderEpoch: 0)
        #expect(log.segmentBaseOffsets == [0, 2], "segment.ms elapsed since the first append")
        // Index interval 1 byte: every batch after the first gets entries; the time index (two
        // entries of 12 bytes in 24) fills first and forces a roll.
        for value in 4...8 { _ = try log.append(try makeBatch(values: [[UInt8(value)]], timestamps: [Int64(value)]), leaderEpoch: 0) }
        #expect(log.segmentCount > 2)
        #expect(try readAll(log).map(\.value) == (1...8).map { [UInt8($0)] })
    }
}

@Suite struct ProducerStateTests {
    static func idempotentBatch(producer: Int64, epoch: Int16, sequence: Int32, count: Int) throws -> RecordBatch {
        var builder = RecordBatchBuilder()
        builder.producerId = producer
        builder.producerEpoch = epoch
        builder.baseSequence = sequence
        for index in 0..<count { builder.append(key: nil, value: [UInt8(index)], timestamp: 1) }
        return try RecordBatch(validating: builder.build())
    }

    @Test func retriesAreStoredOnceAndGapsRefused() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        let log = try PartitionLog(directory: path, topicPartition: testPartition, config: smallSegmentsConfig(), hadCleanShutdown: true)
        let first = try log.append(try Self.idempotentBatch(producer: 7, epoch: 0, sequence: 0, count: 3), leaderEpoch: 0)
        let second = try log.append(try Self.idempotentBatch(producer: 7, epoch: 0, sequence: 3, count: 2), leaderEpoch: 0)
        // The same batch again (a retry after a lost response) gets its original offsets.
        let retry = try log.append(try Self.idempotentBatch(producer: 7, epoch: 0, sequence: 0, count: 3), leaderEpoch: 0)
        #expect(retry == PartitionLog.AppendResult(baseOffset: first.baseOffset, lastOffset: first.lastOffset, isDuplicate: true))
        #expect(log.offsets.logEndOffset == 5)
        // A gap, and an old epoch, are refused.
        let gap = #expect(throws: ProducerStateError.self) {
            try log.append(try Self.idempotentBatch(producer: 7, epoch: 0, sequence: 9, count: 1), leaderEpoch: 0)
        }
        #expect(gap?.kafkaErrorCode == .outOfOrderSequenceNumber)
        _ = try log.append(try Self.idempotentBatch(producer: 7, epoch: 1, sequence: 0, count: 1), leaderEpoch: 0)
        let fenced = #expect(throws: ProducerStateError.self) {
            try log.append(try Self.idempotentBatch(producer: 7, epoch: 0, sequence: 5, count: 1), leaderEpoch: 0)
        }
        #expect(fenced?.kafkaErrorCode == .invalidProducerEpoch)
        #expect(second.baseOffset == 3)

        // After a clean close (snapshot) and after a crash (rebuilt from the log), retries are
        // still recognised.
        try log.close()
        for clean in [true, false] {
            let reopened = try PartitionLog(
                directory: path, topicPartition: testPartition, config: smallSegmentsConfig(), recoveryPoint: clean ? 6 : 0,
                hadCleanShutdown: clean)
            #expect(reopened.producerEpoch(of: 7) == 1)
            let again = try reopened.append(try Self.idempotentBatch(producer: 7, epoch: 1, sequence: 0, count: 1), leaderEpoch: 0)
            #expect(again.isDuplicate && again.baseOffset == 5)
            if !clean { continue }
            for snapshot in try FileManager.default.contentsOfDirectory(atPath: path) where snapshot.hasSuffix(".snapshot") {
                try FileManager.default.removeItem(atPath: path + "/" + snapshot)
            }
        }
    }
}
