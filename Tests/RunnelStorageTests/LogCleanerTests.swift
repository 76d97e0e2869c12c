import Foundation
import NIOCore
import RunnelProtocol
import Synchronization
import Testing
@testable import RunnelStorage

/// The log cleaner on real files: rounds run synchronously (`cleanFilthiest`) on logs written
/// through `append`, read back through `read` as a consumer would, and reopened from disk.
@Suite struct LogCleanerTests {
    /// A record as a consumer sees it.
    struct Seen: Equatable, Hashable {
        var offset: Int64
        var key: String?
        var value: String?
    }

    final class Clock: Sendable {
        let now = Atomic<Int64>(1_000_000)
        func advance(by milliseconds: Int64) { now.add(milliseconds, ordering: .relaxed) }
        var read: @Sendable () -> Int64 { { self.now.load(ordering: .relaxed) } }
    }

    static func compactConfig(segmentBytes: Int = 2048) -> LogConfig {
        var config = smallSegmentsConfig(segmentBytes: segmentBytes, indexIntervalBytes: 256)
        config.cleanupPolicy = .compact
        config.minCleanableDirtyRatio = 0
        config.deleteRetentionMs = 10_000
        return config
    }

    static func openLog(_ path: String, config: LogConfig = compactConfig(), clock: Clock, clean: Bool = true) throws -> PartitionLog {
        try PartitionLog(directory: path, topicPartition: testPartition, config: config, hadCleanShutdown: clean, clock: clock.read)
    }

    static func cleaner(for log: PartitionLog, directory: String, clock: Clock, mapBytes: Int = 1 << 20,
                        failpoint: @escaping @Sendable (String) throws -> Void = { _ in }) -> LogCleaner {
        var config = CleanerConfig()
        config.dedupeBufferBytes = mapBytes
        return LogCleaner(config: config, directories: [directory], logs: { [log] }, clock: clock.read, failpoint: failpoint, onEvent: { _ in })
    }

    /// Appends `records` (key, value; nil value = tombstone, nil key = keyless) in batches of
    /// `perBatch`, and returns them with their offsets.
    @discardableResult
    static func append(_ records: [(String?, String?)], to log: PartitionLog, perBatch: Int = 4, producerId: Int64 = -1,
                       sequence: inout Int32) throws -> [Seen] {
        var seen: [Seen] = []
        var index = 0
        while index < records.count {
            var builder = RecordBatchBuilder()
            if producerId >= 0 {
                builder.producerId = producerId
                builder.producerEpoch = 0
                builder.baseSequence = sequence
            }
            let chunk = records[index..<min(index + perBatch, records.count)]
            for (key, value) in chunk {
                builder.append(key: key.map { Array($0.utf8) }, value: value.map { Array($0.utf8) }, timestamp: 5000)
            }
            let result = try log.append(try RecordBatch(validating: builder.build()), leaderEpoch: 0)
            for (offset, (key, value)) in zip(result.baseOffset..., chunk) { seen.append(Seen(offset: offset, key: key, value: value)) }
            sequence &+= Int32(chunk.count)
            index += perBatch
        }
        log.updateHighWatermark(log.offsets.logEndOffset)
        return seen
    }

    static func append(_ records: [(String?, String?)], to log: PartitionLog) throws -> [Seen] {
        var sequence: Int32 = 0
        return try append(records, to: log, sequence: &sequence)
    }

    static func batches(of log: PartitionLog) throws -> [RecordBatch] {
        var batches: [RecordBatch] = []
        var offset = log.offsets.logStartOffset
        while let slice = try log.read(from: offset, maxBytes: 1 << 20) {
            for bytes in RecordSet(try slice.readBytes()) { batches.append(try RecordBatch(validating: bytes)) }
            offset = slice.nextOffset
        }
        return batches
    }

    static func records(of log: PartitionLog) throws -> [Seen] {
        try batches(of: log).flatMap { batch in
            try batch.records().map { record in
                Seen(offset: record.offset, key: record.key.map { String(buffer: $0) }, value: record.value.map { String(buffer: $0) })
            }
        }
    }

    /// What compaction must leave of `written`, below `end`: the last record of each key.
    static func lastPerKey(_ written: [Seen], below end: Int64) -> [Seen] {
        var last: [String: Int64] = [:]
        for record in written where record.offset < end { if let key = record.key { last[key] = record.offset } }
        return written.filter { $0.offset >= end || ($0.key != nil && last[$0.key!] == $0.offset) }
    }

    static func leftovers(_ path: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".cleaned") || $0.hasSuffix(".swap") }
    }

    /// 40 keys, 12 versions each, keyless records mixed in; the active segment is never cleaned.
    static func history() -> [(String?, String?)] {
        var records: [(String?, String?)] = []
        for version in 0..<12 {
            for key in 0..<40 { records.append(("key-\(key)", "v\(version)-\(String(repeating: "x", count: 40))")) }
            records.append((nil, "keyless-\(version)"))
        }
        return records
    }

    @Test func keepsTheLastValueOfEveryKeyAtItsOffset() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        let clock = Clock()
        let log = try Self.openLog(path, clock: clock)
        let written = try Self.append(Self.history(), to: log)
        let activeBase = log.segmentBaseOffsets.last!
        #expect(log.segmentCount > 5)
        let sizeBefore = log.sizeInBytes
        let cleaner = Self.cleaner(for: log, directory: directory.path, clock: clock)
        #expect(cleaner.cleanFilthiest())
        let expected = Self.lastPerKey(written, below: activeBase).filter { $0.key != nil || $0.offset >= activeBase }
        #expect(try Self.records(of: log) == expected)
        #expect(log.sizeInBytes < sizeBefore / 4)
        #expect(log.offsets.logEndOffset == Int64(written.count))
        #expect(cleaner.checkpoint(of: testPartition, in: directory.path) == activeBase)
        // Nothing more to clean until new records arrive.
        #expect(!cleaner.cleanFilthiest())
        try log.close()
        let reopened = try Self.openLog(path, clock: clock, clean: false)
        #expect(try Self.records(of: reopened) == expected)
        #expect(reopened.damage.isEmpty)
        #expect(try Self.leftovers(path).isEmpty)
    }

    @Test func tombstonesStayForDeleteRetentionThenGo() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        let clock = Clock()
        let log = try Self.openLog(path, clock: clock)
        let cleaner = Self.cleaner(for: log, directory: directory.path, clock: clock)
        var written = try Self.append(Self.history(), to: log)
        written += try Self.append([("key-7", nil), ("key-8", nil)], to: log)
        written += try Self.append(Self.history().filter { $0.0 != "key-7" && $0.0 != "key-8" }.suffix(200), to: log)
        #expect(cleaner.cleanFilthiest())
        var seen = try Self.records(of: log)
        // Right after the first clean a consumer from the start still sees the deletes.
        #expect(seen.filter { $0.key == "key-7" } == [written.first { $0.key == "key-7" && $0.value == nil }!])
        #expect(seen.contains { $0.key == "key-8" && $0.value == nil })
        // The horizon (now + delete.retention.ms) was stamped on the tombstones' batch.
        let stamped = try Self.batches(of: log).filter { $0.deleteHorizonMs != nil }
        #expect(stamped.count == 1 && stamped[0].deleteHorizonMs == clock.read() + 10_000)
        clock.advance(by: 10_001)
        try Self.append(Self.history().filter { $0.0 != "key-7" && $0.0 != "key-8" }.suffix(200), to: log)
        #expect(cleaner.cleanFilthiest())
        seen = try Self.records(of: log)
        #expect(!seen.contains { $0.key == "key-7" || $0.key == "key-8" })
        #expect(seen.contains { $0.key == "key-9" })
    }

    @Test func aSmallMapCleansInSeveralRoundsAndConverges() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        let clock = Clock()
        let log = try Self.openLog(path, clock: clock)
        let written = try Self.append(Self.history(), to: log)
        let activeBase = log.segmentBaseOffsets.last!
        // 13 slots, 11 keys a round: 40 keys need several rounds.
        let cleaner = Self.cleaner(for: log, directory: directory.path, clock: clock, mapBytes: 13 * OffsetMap.bytesPerEntry)
        var rounds = 0
        while cleaner.cleanFilthiest() { rounds += 1 }
        #expect(rounds > 3)
        let expected = Self.lastPerKey(written, below: activeBase).filter { $0.key != nil || $0.offset >= activeBase }
        #expect(try Self.records(of: log) == expected)
    }

    @Test func aProducersLastBatchAndEveryEpochStartStayAsEmptyBatches() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        let clock = Clock()
        let log = try Self.openLog(path, clock: clock)
        var sequence: Int32 = 0
        let idempotent = try Self.append(Self.history().prefix(40).map { $0 }, to: log, producerId: 7, sequence: &sequence)
        // Every key the producer wrote is written again, without a producer id.
        var none: Int32 = 0
        try Self.append(Self.history(), to: log, sequence: &none)
        #expect(Self.cleaner(for: log, directory: directory.path, clock: clock).cleanFilthiest())
        let batches = try Self.batches(of: log)
        // The producer's first batch stays as where epoch 0 starts, its last as its last.
        let kept = batches.filter { $0.header.producerId == 7 }
        #expect(kept.first?.header.baseOffset == 0 && kept.last?.header.baseOffset == idempotent.last!.offset - 3)
        #expect(kept.allSatisfy { $0.header.recordsCount == 0 })
        #expect(kept.last!.header.baseSequence + Int32(kept.last!.header.lastOffsetDelta) == sequence - 1)
        // The producer's retry of its last batch is still recognised after a restart that
        // rebuilds producer state from the segments alone.
        try log.close()
        for name in try FileManager.default.contentsOfDirectory(atPath: path) where name.hasSuffix(".snapshot") {
            try FileManager.default.removeItem(atPath: path + "/" + name)
        }
        let reopened = try Self.openLog(path, clock: clock)
        #expect(reopened.producerEpoch(of: 7) == 0)
    }

    @Test func aTruncationDuringTheRoundLeavesTheLogAlone() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        let clock = Clock()
        let log = try Self.openLog(path, clock: clock)
        try Self.append(Self.history(), to: log)
        let snapshot = log.cleaningSnapshot()!
        let range = LogToClean(snapshot, checkpoint: nil, now: clock.read(), firstBatchTimestamp: { _ in nil })!
        try log.truncate(to: 100)
        let before = try Self.records(of: log)
        let round = CleanerRound(
            log: log, snapshot: snapshot, range: range, now: clock.read(), mapBytes: 1 << 20, loadFactor: 0.9,
            throttler: CleanerThrottler(bytesPerSecond: .greatestFiniteMagnitude), shouldStop: { false }, failpoint: { _ in })
        #expect(try round.run() == .abandoned)
        #expect(try Self.records(of: log) == before)
        #expect(try Self.leftovers(path).isEmpty)
    }

    struct Injected: Error {}

    /// A crash at each step of the swap: reopening yields the log before the clean (crash before
    /// the commit) or after it (crash after), never a mix within a group, never a lost record.
    @Test(arguments: ["cleaner-before-swap", "cleaner-after-swap", "cleaner-after-delete"])
    func aCrashDuringTheSwapLoadsAsBeforeOrAfter(failpoint: String) throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        let clock = Clock()
        // One group: every inactive segment fits in segment.bytes of cleaned output.
        let config = Self.compactConfig(segmentBytes: 1 << 20)
        let log = try Self.openLog(path, config: config, clock: clock)
        let written = try Self.append(Self.history(), to: log)
        try log.roll()
        try Self.append([("tail", "t")], to: log)
        let before = try Self.records(of: log)
        let cleaner = Self.cleaner(for: log, directory: directory.path, clock: clock) { name in
            if name == failpoint { throw Injected() }
        }
        #expect(cleaner.cleanFilthiest())
        #expect(cleaner.uncleanablePartitions == [testPartition])
        // The process "dies" here: the log is reopened from disk without closing.
        let reopened = try Self.openLog(path, config: config, clock: clock, clean: false)
        reopened.updateHighWatermark(reopened.offsets.logEndOffset)
        let after = try Self.records(of: reopened)
        let cleaned = Self.lastPerKey(written + [Seen(offset: Int64(written.count), key: "tail", value: "t")], below: Int64(written.count))
            .filter { $0.key != nil || $0.offset >= Int64(written.count) }
        #expect(after == (failpoint == "cleaner-before-swap" ? before : cleaned))
        #expect(reopened.damage.isEmpty)
        #expect(try Self.leftovers(path).isEmpty)
        // A clean after the restart finishes the job.
        let again = Self.cleaner(for: reopened, directory: directory.path, clock: clock)
        while again.cleanFilthiest() {}
        #expect(try Self.records(of: reopened) == cleaned)
    }

    @Test func theDirtyRangeStopsAtTheHighWatermarkTheActiveSegmentAndTheMinimumLag() throws {
        let directory = TemporaryDirectory()
        let clock = Clock()
        let log = try Self.openLog(directory.path + "/events-0", clock: clock)
        try Self.append(Self.history(), to: log)
        let bases = log.segmentBaseOffsets
        var snapshot = log.cleaningSnapshot()!
        #expect(LogToClean(snapshot, checkpoint: nil, now: clock.read(), firstBatchTimestamp: { _ in nil })?.firstUncleanableOffset == bases.last!)
        // A high watermark inside the third segment keeps it and everything after dirty-but-uncleanable.
        snapshot.highWatermark = bases[2] + 1
        let cut = LogToClean(snapshot, checkpoint: nil, now: clock.read(), firstBatchTimestamp: { _ in nil })!
        #expect(cut.firstUncleanableOffset == bases[2])
        // A checkpoint at the high watermark's segment leaves nothing to clean.
        #expect(LogToClean(snapshot, checkpoint: bases[2], now: clock.read(), firstBatchTimestamp: { _ in nil }) == nil)
        // Records younger than min.compaction.lag.ms stay (their timestamps are 5000).
        snapshot.highWatermark = snapshot.logEndOffset
        snapshot.config.minCompactionLagMs = 10_000
        #expect(LogToClean(snapshot, checkpoint: nil, now: 14_000, firstBatchTimestamp: { _ in nil }) == nil)
        #expect(LogToClean(snapshot, checkpoint: nil, now: 15_001, firstBatchTimestamp: { _ in nil }) != nil)
        // max.compaction.lag.ms makes an old dirty segment due whatever the ratio.
        snapshot.config.minCompactionLagMs = 0
        snapshot.config.minCleanableDirtyRatio = 1
        snapshot.config.maxCompactionLagMs = 1000
        #expect(LogToClean(snapshot, checkpoint: nil, now: 5500, firstBatchTimestamp: { _ in 5000 })?.isEligible == false)
        #expect(LogToClean(snapshot, checkpoint: nil, now: 6001, firstBatchTimestamp: { _ in 5000 })?.isEligible == true)
        // A delete-only topic is never cleaned.
        snapshot.config.cleanupPolicy = .delete
        #expect(LogToClean(snapshot, checkpoint: nil, now: 6001, firstBatchTimestamp: { _ in 5000 }) == nil)
    }

    @Test func retentionByTimeAndSizeAppliesOnlyWithTheDeletePolicy() throws {
        let directory = TemporaryDirectory()
        let clock = Clock()
        var config = Self.compactConfig()
        config.retentionBytes = 1
        config.retentionMs = 1
        let log = try Self.openLog(directory.path + "/events-0", config: config, clock: clock)
        try Self.append(Self.history(), to: log)
        let segments = log.segmentCount
        #expect(try log.applyRetention(now: clock.read()) == 0 && log.segmentCount == segments)
        config.cleanupPolicy = [.compact, .delete]
        try log.update(config: config)
        #expect(try log.applyRetention(now: clock.read()) == segments - 1)
    }

    @Test func theThrottlerHoldsTheCleanerToItsRate() {
        let millisecond: Int64 = 1_000_000
        // 1 MB/s: 300 ms windows; a window that moved 1.1 MB in 400 ms must sleep 700 ms more.
        let throttler = CleanerThrottler(bytesPerSecond: 1_000_000, now: 0)
        #expect(throttler.sleepNeeded(afterAccounting: 100_000, now: 100 * millisecond) == 0)
        #expect(throttler.sleepNeeded(afterAccounting: 1_000_000, now: 400 * millisecond) == 700 * millisecond)
        // The next window starts after that sleep: 200 kB over the following 400 ms is under the rate.
        #expect(throttler.sleepNeeded(afterAccounting: 200_000, now: 1500 * millisecond) == 0)
        #expect(throttler.sleepNeeded(afterAccounting: 400_000, now: 2000 * millisecond) == 0)
        #expect(throttler.sleepNeeded(afterAccounting: 900_000, now: 2600 * millisecond) == 300 * millisecond)
        // Unlimited (Kafka's default) never sleeps.
        let unlimited = CleanerThrottler(bytesPerSecond: .greatestFiniteMagnitude, now: 0)
        #expect(unlimited.sleepNeeded(afterAccounting: 1 << 40, now: 10_000 * millisecond) == 0)
    }

    @Test func truncationAndDeletionLowerTheCheckpointOnDisk() throws {
        let directory = TemporaryDirectory()
        let clock = Clock()
        let log = try Self.openLog(directory.path + "/events-0", clock: clock)
        try Self.append(Self.history(), to: log)
        let cleaner = Self.cleaner(for: log, directory: directory.path, clock: clock)
        #expect(cleaner.cleanFilthiest())
        let checkpoint = try #require(cleaner.checkpoint(of: testPartition, in: directory.path))
        cleaner.truncated(log, to: checkpoint + 5)  // above it: unchanged
        cleaner.truncated(log, to: 100)
        // A cleaner started afterwards (a restart) reads the lowered value.
        #expect(Self.cleaner(for: log, directory: directory.path, clock: clock).checkpoint(of: testPartition, in: directory.path) == 100)
        cleaner.forget(testPartition, in: directory.path)
        #expect(Self.cleaner(for: log, directory: directory.path, clock: clock).checkpoint(of: testPartition, in: directory.path) == nil)
    }

    @Test func truncatingToASegmentBaseAfterAGapKeepsTheLogEndThere() throws {
        let directory = TemporaryDirectory()
        let clock = Clock()
        // One ~670-byte record per segment, one segment per cleaner group.
        let log = try Self.openLog(directory.path + "/events-0", config: Self.compactConfig(segmentBytes: 1024), clock: clock)
        let big = String(repeating: "x", count: 600)
        try Self.append([("c", big)], to: log)
        try Self.append([("c", big)], to: log)
        try Self.append([("d", big)], to: log)
        #expect(log.segmentBaseOffsets == [0, 1, 2])
        #expect(Self.cleaner(for: log, directory: directory.path, clock: clock).cleanFilthiest())
        // Offset 0 was cleaned away: the first segment is empty and ends below the next base.
        #expect(try Self.records(of: log).map(\.offset) == [1, 2])
        try log.truncate(to: 1)
        #expect(log.offsets.logEndOffset == 1)
    }
}
