import Foundation
import NIOCore
import RunnelCodecs
import RunnelProtocol
import Testing
@testable import RunnelStorage

/// Damaged files at start-up: nothing corrupt is served, nothing before the damage is lost,
/// and the log accepts appends again.
@Suite struct RecoveryTests {
    static func writeLog(at path: String, batches: Int, seed: UInt64) throws -> [TestRecord] {
        let log = try PartitionLog(directory: path, topicPartition: testPartition, config: smallSegmentsConfig(), hadCleanShutdown: true)
        let records = try PartitionLogTests.fill(log, batches: batches, seed: seed)
        try log.close()
        return records
    }

    static func segmentFiles(_ path: String, suffix: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(suffix) }.sorted().map { path + "/" + $0 }
    }

    /// Reopens as after a crash with no recovery checkpoint (every segment is recovered).
    static func reopenAfterCrash(_ path: String) throws -> PartitionLog {
        try PartitionLog(directory: path, topicPartition: testPartition, config: smallSegmentsConfig(), hadCleanShutdown: false)
    }

    /// What a recovered log serves must be exactly a prefix of what was written, and appends go on.
    static func expectPrefixAndWritable(_ log: PartitionLog, of expected: [TestRecord]) throws {
        let served = try readAll(log)
        #expect(served == Array(expected.prefix(served.count)))
        try expectWritable(log, after: served)
    }

    /// What a recovered log serves must be what was written but for one run of offsets at the
    /// end of the damaged segment (the segment ending at `segmentEnd`): later segments stay.
    static func expectOneCutAndWritable(_ log: PartitionLog, of expected: [TestRecord], segmentEnd: Int64) throws {
        let served = try readAll(log)
        let servedOffsets = Set(served.map(\.offset))
        let missing = expected.map(\.offset).filter { !servedOffsets.contains($0) }
        #expect(served == expected.filter { servedOffsets.contains($0.offset) })
        if let first = missing.first, let last = missing.last {
            #expect(last - first + 1 == Int64(missing.count), "one contiguous run is lost")
            #expect(last + 1 == segmentEnd, "the run ends where the damaged segment ends")
        }
        try expectWritable(log, after: served)
    }

    static func expectWritable(_ log: PartitionLog, after served: [TestRecord]) throws {
        let end = log.offsets.logEndOffset
        #expect(end == (served.last.map { $0.offset + 1 } ?? 0))
        let next = try log.append(try makeBatch(values: [[42]], timestamps: [1]), leaderEpoch: 7)
        #expect(next.baseOffset == end)
        #expect(try readAll(log).last == TestRecord(offset: end, timestamp: 1, value: [42]))
    }

    /// Where the segment `logPath` ends: the next segment's base offset, or the log's end.
    static func segmentEnd(of logPath: String, among logs: [String], logEnd: Int) -> Int64 {
        guard let index = logs.firstIndex(of: logPath), index + 1 < logs.count else { return Int64(logEnd) }
        return Int64(URL(fileURLWithPath: logs[index + 1]).deletingPathExtension().lastPathComponent)!
    }

    @Test(arguments: 0..<8)
    func tornTailIsTruncated(trial: Int) throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        let expected = try Self.writeLog(at: path, batches: 120, seed: UInt64(100 + trial))
        let logs = try Self.segmentFiles(path, suffix: ".log")
        var generator = SeededGenerator(seed: UInt64(trial))
        let victim = logs[logs.count - 1 - Int.random(in: 0..<min(3, logs.count), using: &generator)]
        let size = try FileManager.default.attributesOfItem(atPath: victim)[.size] as! Int
        let cut = Int.random(in: 0..<max(1, size), using: &generator)
        try FileHandle(forWritingTo: URL(fileURLWithPath: victim)).truncate(atOffset: UInt64(cut))

        let log = try Self.reopenAfterCrash(path)
        try Self.expectOneCutAndWritable(
            log, of: expected, segmentEnd: Self.segmentEnd(of: victim, among: logs, logEnd: expected.count))
    }

    @Test(arguments: 0..<8)
    func corruptBytesAreCutNotServed(trial: Int) throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        let expected = try Self.writeLog(at: path, batches: 120, seed: UInt64(200 + trial))
        let logs = try Self.segmentFiles(path, suffix: ".log")
        var generator = SeededGenerator(seed: UInt64(1000 + trial))
        let victim = logs.randomElement(using: &generator)!
        var bytes = try Data(contentsOf: URL(fileURLWithPath: victim))
        // Damage a CRC-covered byte of a random batch (baseOffset and leader epoch lie outside
        // the CRC in Kafka's format, so no reader could tell a flip there).
        var starts: [Int] = []
        var position = 0
        for batch in RecordSet(ByteBuffer(bytes: bytes)) {
            starts.append(position)
            position += batch.readableBytes
        }
        let start = starts.randomElement(using: &generator)!
        let batchSize = Int(bytes[start + 8]) << 24 | Int(bytes[start + 9]) << 16 | Int(bytes[start + 10]) << 8 | Int(bytes[start + 11])
        let index = start + Int.random(in: 21..<(batchSize + 12), using: &generator)
        bytes[index] ^= 0x5A
        try bytes.write(to: URL(fileURLWithPath: victim))

        let log = try Self.reopenAfterCrash(path)
        #expect(log.recoveredBytes > 0)
        try Self.expectOneCutAndWritable(
            log, of: expected, segmentEnd: Self.segmentEnd(of: victim, among: logs, logEnd: expected.count))
        #expect(log.damage.map(\.logPath) == [victim])
    }

    @Test func missingAndCorruptIndexesAreRebuiltOnACleanStart() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        let expected = try Self.writeLog(at: path, batches: 150, seed: 300)
        let indexes = try Self.segmentFiles(path, suffix: ".index")
        let timeIndexes = try Self.segmentFiles(path, suffix: ".timeindex")
        try FileManager.default.removeItem(atPath: indexes[0])
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: indexes[1]))  // not a whole entry
        try Data(repeating: 0xFF, count: 24).write(to: URL(fileURLWithPath: timeIndexes[2]))  // garbage entries
        // Entries that point past the end of the log.
        var bogus = Data()
        for value: UInt32 in [1, 0x7FFF_FFF0] { withUnsafeBytes(of: value.bigEndian) { bogus.append(contentsOf: $0) } }
        try bogus.write(to: URL(fileURLWithPath: indexes[3]))

        let log = try PartitionLog(
            directory: path, topicPartition: testPartition, config: smallSegmentsConfig(), recoveryPoint: Int64(expected.count),
            hadCleanShutdown: true)
        #expect(try readAll(log) == expected)
        for offset in stride(from: Int64(0), to: Int64(expected.count), by: 13) {
            let slice = try #require(try log.read(from: offset, maxBytes: 1))
            #expect(slice.firstOffset <= offset && offset < slice.nextOffset)
        }
        for timestamp in stride(from: Int64(1_000_000), to: 2_000_000, by: 97_000) {
            #expect(try log.offset(forTimestamp: timestamp)?.offset == expected.first { $0.timestamp >= timestamp }?.offset)
        }
    }

    @Test func onlySegmentsAboveTheRecoveryPointAreScanned() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        let expected = try Self.writeLog(at: path, batches: 150, seed: 500)
        let logs = try Self.segmentFiles(path, suffix: ".log")
        // Damage an early segment: below the recovery point it is trusted (not scanned), as in
        // Kafka; the tail segment, above it, is scanned and its torn end cut.
        let last = logs[logs.count - 1]
        let size = try FileManager.default.attributesOfItem(atPath: last)[.size] as! Int
        try FileHandle(forWritingTo: URL(fileURLWithPath: last)).truncate(atOffset: UInt64(size - 5))
        let lastBase = Int64(URL(fileURLWithPath: last).deletingPathExtension().lastPathComponent)!
        let log = try PartitionLog(
            directory: path, topicPartition: testPartition, config: smallSegmentsConfig(), recoveryPoint: lastBase,
            hadCleanShutdown: false)
        #expect(log.recoveredBytes > 0)
        try Self.expectPrefixAndWritable(log, of: expected)
    }
}
