import Foundation
import NIOCore
import RunnelCodecs
import RunnelProtocol
import Testing
@testable import RunnelStorage

/// Damaged files found at start-up or at use: a damaged segment is cut only where it is
/// damaged, with the cut bytes kept in a `.corrupt` file and reported; later segments stay; a
/// damaged index never makes a reader skip records; unreadable checkpoints are rebuilt.
@Suite struct DamagedFilesTests {
    static func baseOffset(of logPath: String) -> Int64 {
        Int64(URL(fileURLWithPath: logPath).deletingPathExtension().lastPathComponent)!
    }

    static func size(of path: String) throws -> Int {
        try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
    }

    static func corruptFiles(in path: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".corrupt") }.sorted().map { path + "/" + $0 }
    }

    static func reopenClean(_ path: String) throws -> PartitionLog {
        try PartitionLog(directory: path, topicPartition: testPartition, config: smallSegmentsConfig(), hadCleanShutdown: true)
    }

    // MARK: Item 6: damage cuts only the damaged segment

    @Test func bytesCutOffAMiddleSegmentAfterACleanShutdownLoseOnlyThatSegmentsTail() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        let expected = try RecoveryTests.writeLog(at: path, batches: 150, seed: 600)
        let logs = try RecoveryTests.segmentFiles(path, suffix: ".log")
        #expect(logs.count > 4)
        let victim = logs[1]
        let original = try Data(contentsOf: URL(fileURLWithPath: victim))
        try FileHandle(forWritingTo: URL(fileURLWithPath: victim)).truncate(atOffset: UInt64(original.count - 3))
        let nextBase = Self.baseOffset(of: logs[2])

        let log = try Self.reopenClean(path)
        // Everything but the last batch of the damaged segment is still served, in order.
        let served = try readAll(log)
        let lost = try #require(log.damage.first)
        #expect(log.damage.count == 1)
        #expect(served == expected.filter { $0.offset < lost.firstLostOffset || $0.offset >= nextBase })
        #expect(lost.lostOffsetsEnd == nextBase && lost.firstLostOffset < nextBase)
        #expect(log.offsets.logEndOffset == Int64(expected.count), "later segments are kept")
        #expect(try RecoveryTests.segmentFiles(path, suffix: ".log").count == logs.count)
        // The cut bytes are kept, byte for byte, in a .corrupt file next to the segment.
        let corrupt = try Self.corruptFiles(in: path)
        #expect(corrupt == [lost.corruptPath])
        #expect(corrupt.first?.hasPrefix(victim + ".") == true)
        let kept = try Data(contentsOf: URL(fileURLWithPath: lost.corruptPath))
        #expect(kept == original[lost.position..<(original.count - 3)])
        #expect(lost.bytes == kept.count && log.recoveredBytes == kept.count)
        #expect(log.startupProblems.contains { $0.severity == .error && $0.message.contains(victim) && $0.message.contains("offsets \(lost.firstLostOffset) to \(nextBase - 1)") })
        // A fetch from a lost offset gets the next batch there is, as in a compacted log.
        let slice = try #require(try log.read(from: lost.firstLostOffset, maxBytes: 1))
        #expect(slice.firstOffset == nextBase)
        _ = try log.append(try makeBatch(values: [[1]], timestamps: [1]), leaderEpoch: 4)
        try log.close()

        // The next start finds nothing more to cut and never loads the .corrupt file.
        let again = try Self.reopenClean(path)
        #expect(again.damage.isEmpty && again.recoveredBytes == 0)
        #expect(try readAll(again).count == served.count + 1)
        #expect(try Self.corruptFiles(in: path) == corrupt)
    }

    @Test func aCorruptBatchCutsOnlyItsSegmentAfterACrash() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        let expected = try RecoveryTests.writeLog(at: path, batches: 150, seed: 400)
        let logs = try RecoveryTests.segmentFiles(path, suffix: ".log")
        #expect(logs.count > 3)
        // Corrupt the first batch of the second segment: that segment is cut to nothing.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: logs[1]))
        bytes[30] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: logs[1]))
        let (secondBase, thirdBase) = (Self.baseOffset(of: logs[1]), Self.baseOffset(of: logs[2]))

        let log = try RecoveryTests.reopenAfterCrash(path)
        #expect(log.offsets.logEndOffset == Int64(expected.count))
        #expect(try readAll(log) == expected.filter { $0.offset < secondBase || $0.offset >= thirdBase })
        #expect(log.damage.map(\.bytes) == [bytes.count])
        #expect(try Data(contentsOf: URL(fileURLWithPath: log.damage[0].corruptPath)) == bytes)
        let next = try log.append(try makeBatch(values: [[42]], timestamps: [1]), leaderEpoch: 7)
        #expect(next.baseOffset == Int64(expected.count))
    }

    @Test func aSegmentOverlappingThePreviousOneIsMovedAsideNotDeleted() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        let expected = try RecoveryTests.writeLog(at: path, batches: 150, seed: 700)
        let logs = try RecoveryTests.segmentFiles(path, suffix: ".log")
        // A stray copy of the second segment under a base offset inside the first one.
        let stray = path + "/" + LogSegment.fileName(baseOffset: 1, suffix: ".log")
        try FileManager.default.copyItem(atPath: logs[1], toPath: stray)
        let strayBytes = try Data(contentsOf: URL(fileURLWithPath: stray))

        let log = try RecoveryTests.reopenAfterCrash(path)
        #expect(try readAll(log) == expected)
        #expect(!FileManager.default.fileExists(atPath: stray))
        let damage = try #require(log.damage.first)
        #expect(damage.logPath == stray && damage.bytes == strayBytes.count)
        #expect(try Data(contentsOf: URL(fileURLWithPath: damage.corruptPath)) == strayBytes)
    }

    // MARK: Item 7: index entries are checked when used

    /// Moves the position of one entry in the middle of `indexPath` onto the next entry's
    /// position: the entry then points at a later batch than its offset says.
    static func shiftOneEntry(_ indexPath: String) throws -> Data {
        var index = try Data(contentsOf: URL(fileURLWithPath: indexPath))
        let entries = index.count / 8
        #expect(entries >= 3)
        let victim = entries / 2
        let nextPosition = index[(victim + 1) * 8 + 4..<(victim + 1) * 8 + 8]
        let original = index
        index.replaceSubrange(victim * 8 + 4..<victim * 8 + 8, with: nextPosition)
        try index.write(to: URL(fileURLWithPath: indexPath))
        return original
    }

    @Test func aShiftedIndexEntryNeverSkipsRecordsAndTheIndexIsRebuilt() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        let config = smallSegmentsConfig(segmentBytes: 64 * 1024, indexIntervalBytes: 512)
        let expected: [TestRecord]
        do {
            let log = try PartitionLog(directory: path, topicPartition: testPartition, config: config, hadCleanShutdown: true)
            expected = try PartitionLogTests.fill(log, batches: 300, seed: 800)
            try log.close()
        }
        let indexes = try RecoveryTests.segmentFiles(path, suffix: ".index")
        #expect(indexes.count > 2)
        let original = try Self.shiftOneEntry(indexes[1])

        let log = try PartitionLog(directory: path, topicPartition: testPartition, config: config, hadCleanShutdown: true)
        let firstBase = Self.baseOffset(of: indexes[1])
        let segmentEnd = Self.baseOffset(of: indexes[2])
        // A consumer starting at any offset of the damaged segment gets the batch holding it.
        for offset in firstBase..<segmentEnd {
            let slice = try #require(try log.read(from: offset, maxBytes: 1))
            #expect(slice.firstOffset <= offset && offset < slice.nextOffset, "offset \(offset)")
        }
        #expect(try readAll(log) == expected)
        #expect(try readAll(log, maxBytes: 1) == expected)
        #expect(try Data(contentsOf: URL(fileURLWithPath: indexes[1])) == original, "the index was rebuilt from the log")
        for probe in expected.filter({ $0.offset >= firstBase && $0.offset < segmentEnd }).map(\.timestamp).prefix(30) {
            #expect(try log.offset(forTimestamp: probe)?.offset == expected.first { $0.timestamp >= probe }?.offset)
        }
    }

    @Test func everyIndexEntryIsCheckedAfterAnUncleanShutdown() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        let expected = try RecoveryTests.writeLog(at: path, batches: 150, seed: 900)
        let indexes = try RecoveryTests.segmentFiles(path, suffix: ".index")
        let original = try Self.shiftOneEntry(indexes[1])
        // Below the recovery point the segment is not recovered, but its index is checked.
        let log = try PartitionLog(
            directory: path, topicPartition: testPartition, config: smallSegmentsConfig(), recoveryPoint: Int64(expected.count),
            hadCleanShutdown: false)
        #expect(try Data(contentsOf: URL(fileURLWithPath: indexes[1])) == original, "rebuilt at load, before any read")
        #expect(try readAll(log) == expected)
        #expect(log.damage.isEmpty)
    }

    // MARK: Item 8: unreadable checkpoints are rebuilt from the data

    @Test(arguments: ["", "0\n", "0\n3\nevents 0 1", "garbage\n"])
    func unreadableCheckpointsAreResetAndRecovered(damaged contents: String) throws {
        let directory = TemporaryDirectory()
        let data = directory.path + "/data"
        let partitions = (0..<3).map { TopicPartition(topic: "events", partition: Int32($0)) }
        var ends: [TopicPartition: Int64] = [:]
        var epochFiles: [TopicPartition: String] = [:]
        do {
            let manager = try LogManager(directories: [data])
            _ = try manager.startup { _ in smallSegmentsConfig() }
            for partition in partitions {
                let log = try manager.createLog(for: partition, config: smallSegmentsConfig())
                for epoch in [Int32(0), 2, 5] {
                    for value in 0..<40 {
                        _ = try log.append(try makeBatch(values: [[UInt8(value)]], timestamps: [Int64(value)]), leaderEpoch: epoch)
                    }
                }
                log.updateHighWatermark(log.offsets.logEndOffset)
                ends[partition] = log.offsets.logEndOffset
                epochFiles[partition] = try String(contentsOfFile: log.directory + "/leader-epoch-checkpoint", encoding: .utf8)
            }
            try manager.shutdown()
        }
        let checkpoints = [
            OffsetCheckpointFile.recoveryPoint, OffsetCheckpointFile.logStartOffset, OffsetCheckpointFile.highWatermark,
        ].map { data + "/" + $0 }
        for file in checkpoints + partitions.map({ data + "/" + $0.directoryName + "/leader-epoch-checkpoint" }) {
            try contents.write(toFile: file, atomically: false, encoding: .utf8)
        }

        let manager = try LogManager(directories: [data])
        let report = try manager.startup { _ in smallSegmentsConfig() }
        #expect(!report.cleanShutdown, "an unreadable recovery point forces recovery")
        #expect(report.damagedSegments == 0)
        for file in checkpoints {
            #expect(report.problems.contains { $0.severity == .warning && $0.message.contains(file) }, "\(file)")
        }
        for partition in partitions {
            let log = try #require(manager.log(for: partition))
            #expect(log.offsets.logEndOffset == ends[partition])
            #expect(log.latestLeaderEpoch == 5)
            #expect(log.endOffset(forLeaderEpoch: 2)?.endOffset == 80)
            // Rebuilt from the batches' epochs: the same file as before the damage.
            #expect(try String(contentsOfFile: log.directory + "/leader-epoch-checkpoint", encoding: .utf8) == epochFiles[partition])
        }
    }

    // MARK: Item 11: one process per data directory

    @Test func aSecondManagerOnALockedDirectoryIsRefusedNamingIt() throws {
        let directory = TemporaryDirectory()
        let data = directory.path + "/nested/data"
        var first: LogManager? = try LogManager(directories: [data])
        #expect(FileManager.default.fileExists(atPath: data + "/.lock"))
        let refusal = #expect(throws: StorageError.self) { _ = try LogManager(directories: [data]) }
        #expect(refusal?.code == .directoryInUse)
        #expect(refusal?.detail.contains(data) == true)
        _ = first
        first = nil
        // The lock goes with its holder, and with a clean shutdown (a restart in the same process).
        let second = try LogManager(directories: [data])
        _ = try second.startup { _ in LogConfig() }
        try second.shutdown()
        _ = try LogManager(directories: [data])
        _ = second
    }

    // MARK: Item 5: inactive segments are closed until read

    @Test func inactiveSegmentsOpenOnlyWhileInUse() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        let expected = try RecoveryTests.writeLog(at: path, batches: 150, seed: 1000)
        let log = try Self.reopenClean(path)
        #expect(log.segmentCount > 4)
        #expect(log.openSegmentCount == 1, "only the active segment is open after loading")
        let slice = try #require(try log.read(from: 0, maxBytes: 1))
        #expect(log.openSegmentCount == 2)
        // A sweep spares a segment used since the last one; the next closes it.
        #expect(try log.closeIdleSegments() == 0)
        #expect(try log.closeIdleSegments() == 1)
        #expect(log.openSegmentCount == 1)
        // A slice handed out before keeps its file open and readable.
        let batch = try RecordBatch(validating: RecordSet(try slice.readBytes()).first { _ in true }!)
        #expect(batch.header.baseOffset == 0)
        #expect(try readAll(log) == expected)
        for timestamp in [Int64(1_200_000), 1_700_000] {
            #expect(try log.offset(forTimestamp: timestamp)?.offset == expected.first { $0.timestamp >= timestamp }?.offset)
        }

        // Segments rolled while running close too, once flushed (the sweep flushes them).
        let more = try PartitionLogTests.fill(log, batches: 60, seed: 1001)
        #expect(log.openSegmentCount > 2)
        _ = try log.closeIdleSegments()
        _ = try log.closeIdleSegments()
        #expect(log.openSegmentCount == 1)
        #expect(log.offsets.recoveryPoint >= log.segmentBaseOffsets.last!)
        #expect(try readAll(log) == expected + more)
    }
}

/// The checkpoint files, byte for byte as Kafka writes them, and truncation across segments.
@Suite struct CheckpointFormatTests {
    @Test func offsetCheckpointIsKafkasTextFormat() throws {
        let directory = TemporaryDirectory()
        let file = OffsetCheckpointFile(path: directory.path + "/recovery-point-offset-checkpoint")
        try file.write([
            TopicPartition(topic: "orders", partition: 1): 120, TopicPartition(topic: "audit-log", partition: 0): 0,
            TopicPartition(topic: "orders", partition: 0): 9_000_000_000,
        ])
        let written = try String(contentsOfFile: file.path, encoding: .utf8)
        #expect(written == "0\n3\naudit-log 0 0\norders 0 9000000000\norders 1 120\n")
        // A file Kafka wrote (entries in any order) reads back.
        try "0\n2\n__consumer_offsets 17 42\nx.y_z-1 3 7\n".write(toFile: file.path, atomically: false, encoding: .utf8)
        #expect(try file.read() == [
            TopicPartition(topic: "__consumer_offsets", partition: 17): 42, TopicPartition(topic: "x.y_z-1", partition: 3): 7,
        ])
        try "0\n0\n".write(toFile: file.path, atomically: false, encoding: .utf8)
        #expect(try file.read() == [:])
        #expect(try OffsetCheckpointFile(path: directory.path + "/missing").read() == [:])
        // Cut short anywhere (even inside the last number), wrong version or count: refused.
        for damaged in ["", "0", "0\n2\na 0 1\nb 0 2", "0\n2\na 0 1\n", "1\n0\n", "0\n1\na 0\n", "0\n1\na x 1\n"] {
            try damaged.write(toFile: file.path, atomically: false, encoding: .utf8)
            #expect(throws: StorageError.self, "\(damaged.debugDescription)") { try file.read() }
        }
    }

    @Test func leaderEpochCheckpointIsKafkasTextFormat() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/leader-epoch-checkpoint"
        var cache = try LeaderEpochCache(path: path)
        let assigned = [cache.assign(epoch: 0, startOffset: 0), cache.assign(epoch: 3, startOffset: 100), cache.assign(epoch: 2, startOffset: 150)]
        #expect(assigned == [true, true, false], "older epochs are ignored")
        try cache.write()
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "0\n2\n0 0\n3 100\n")
        try "0\n3\n1 0\n4 37\n9 2000000000000\n".write(toFile: path, atomically: false, encoding: .utf8)
        let read = try LeaderEpochCache(path: path)
        #expect(read.entries == [.init(epoch: 1, startOffset: 0), .init(epoch: 4, startOffset: 37), .init(epoch: 9, startOffset: 2_000_000_000_000)])
        #expect(read.endOffset(of: 4, logEndOffset: 5000)?.endOffset == 2_000_000_000_000)
        for damaged in ["", "0\n1\n", "0\n1\n3 10", "0\n1\n3\n", "1\n0\n"] {
            try damaged.write(toFile: path, atomically: false, encoding: .utf8)
            #expect(throws: StorageError.self, "\(damaged.debugDescription)") { try LeaderEpochCache(path: path) }
        }
    }

    @Test func truncationAcrossSegmentsSurvivesAReopen() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        let log = try PartitionLog(directory: path, topicPartition: testPartition, config: smallSegmentsConfig(), hadCleanShutdown: true)
        let expected = try PartitionLogTests.fill(log, batches: 200, seed: 1100)
        let bases = log.segmentBaseOffsets
        #expect(bases.count > 6)
        // The end of the third segment's first batch: every later segment goes.
        let target = try #require(try log.read(from: bases[2], maxBytes: 1)).nextOffset
        #expect(target > bases[2] && target < bases[3])
        try log.truncate(to: target)
        #expect(log.offsets.logEndOffset == target)
        #expect(log.segmentBaseOffsets == Array(bases.prefix(3)))
        let appended = try log.append(try makeBatch(values: [[5], [6]], timestamps: [5, 6]), leaderEpoch: 8)
        #expect(appended.baseOffset == target)
        try log.close()
        let kept = Array(expected.prefix(Int(target))) + [
            TestRecord(offset: target, timestamp: 5, value: [5]), TestRecord(offset: target + 1, timestamp: 6, value: [6]),
        ]
        #expect(try RecoveryTests.segmentFiles(path, suffix: ".log").count == 3)

        for clean in [true, false] {
            let reopened = try PartitionLog(
                directory: path, topicPartition: testPartition, config: smallSegmentsConfig(), hadCleanShutdown: clean)
            #expect(reopened.offsets.logEndOffset == target + 2)
            #expect(try readAll(reopened) == kept)
            #expect(reopened.damage.isEmpty)
            #expect(reopened.latestLeaderEpoch == 8 && reopened.endOffset(forLeaderEpoch: 3)?.endOffset == target)
        }
    }
}
