import Foundation
import NIOCore
import RunnelProtocol
import Testing
@testable import RunnelStorage

/// What the `log-loader` fuzz target found (inputs kept in `Fuzz/findings/log-loader-crash-*`;
/// replay them with `tools/fuzz repro log-loader FILE`), each reduced to the directory it
/// describes:
/// - a recovery-point checkpoint past the log end let a damaged segment below it be served
///   unchecked after a crash (1ae80b30, 34e15ad1, 3f227739, 891206c1);
/// - a segment named near Int64.max made the next append trap computing its offsets
///   (4087e562, a6f0e265);
/// - (found reading the same code) a batch whose on-disk baseOffset, which the CRC does not
///   cover, is damaged to near Int64.max made `lastOffset` trap while walking the segment;
/// - a segment whose last batch claims offsets more than 2^32 past the segment's base was
///   loaded after a clean shutdown, and the next roll trapped writing a 32-bit relative
///   offset into the time index (found by the 20-minute run, crash-16e2031e).
@Suite struct LogLoaderFuzzRegressionTests {
    @Test func aRecoveryPointPastTheLogEndIsNotTrustedAfterACrash() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        let expected = try RecoveryTests.writeLog(at: path, batches: 150, seed: 900)
        let logs = try RecoveryTests.segmentFiles(path, suffix: ".log")
        #expect(logs.count > 3)
        // Damage the first batch's records in the first segment (the CRC no longer matches).
        var bytes = try Data(contentsOf: URL(fileURLWithPath: logs[0]))
        bytes[70] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: logs[0]))
        let secondBase = DamagedFilesTests.baseOffset(of: logs[1])

        // The checkpoint claims offsets far past the end are durable: only the last segment
        // would be recovered if it were believed.
        let log = try PartitionLog(
            directory: path, topicPartition: testPartition, config: smallSegmentsConfig(),
            recoveryPoint: Int64(expected.count) + 1_000_000, hadCleanShutdown: false)
        let served = try readAll(log)
        #expect(served == expected.filter { $0.offset >= secondBase }, "the damaged segment is cut, the rest is served")
        #expect(log.damage.count == 1 && log.damage.first?.logPath == logs[0])
        #expect(log.startupProblems.contains { $0.severity == .warning && $0.message.contains("past the log end") })
        // Every batch served validates.
        var offset = log.offsets.logStartOffset
        while let slice = try log.read(from: offset, maxBytes: 64 * 1024) {
            for batch in RecordSet(try slice.readBytes()) { _ = try RecordBatch(validating: batch) }
            offset = slice.nextOffset
        }
    }

    @Test func aSegmentNamedNearTheLastOffsetRefusesAppendsInsteadOfTrapping() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let name = path + "/" + LogSegment.fileName(baseOffset: Int64.max, suffix: ".log")
        #expect(FileManager.default.createFile(atPath: name, contents: Data()))
        for clean in [true, false] {
            let log = try PartitionLog(directory: path, topicPartition: testPartition, config: smallSegmentsConfig(), hadCleanShutdown: clean)
            let batch = try makeBatch(values: [[1]], timestamps: [1])
            let error = #expect(throws: StorageError.self) { _ = try log.append(batch, leaderEpoch: 0) }
            #expect(error?.code == .offsetsExhausted)
            #expect(log.offsets.logEndOffset == Int64.max)
            try log.close()
        }
    }

    @Test func aBatchWhoseBaseOffsetWasDamagedToNearTheLastOffsetIsCutNotTrappedOn() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        let expected = try RecoveryTests.writeLog(at: path, batches: 150, seed: 901)
        let logs = try RecoveryTests.segmentFiles(path, suffix: ".log")
        // The second segment's first batch: baseOffset (bytes 0..<8, outside the CRC) becomes
        // Int64.max - 1; its lastOffsetDelta is at least 0, so lastOffset + 1 cannot be computed.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: logs[1]))
        withUnsafeBytes(of: (Int64.max - 1).bigEndian) { bytes.replaceSubrange(0..<8, with: $0) }
        try bytes.write(to: URL(fileURLWithPath: logs[1]))
        let (secondBase, thirdBase) = (DamagedFilesTests.baseOffset(of: logs[1]), DamagedFilesTests.baseOffset(of: logs[2]))

        let afterCrash = try RecoveryTests.reopenAfterCrash(path)
        #expect(try readAll(afterCrash) == expected.filter { $0.offset < secondBase || $0.offset >= thirdBase })
        #expect(afterCrash.damage.count == 1)
        try afterCrash.close()
    }

    @Test func aBatchBeyondWhatTheSegmentCanIndexIsCutAfterACleanShutdown() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        var expected = try RecoveryTests.writeLog(at: path, batches: 150, seed: 902)
        // A last segment of three small batches: the walk from its start (no index entry yet)
        // accepts any later batch whose offsets only go forward.
        let writer = try DamagedFilesTests.reopenClean(path)
        try writer.roll()
        for value in UInt8(1)...3 {
            let appended = try writer.append(try makeBatch(values: [[value]], timestamps: [1]), leaderEpoch: 0)
            expected.append(TestRecord(offset: appended.baseOffset, timestamp: 1, value: [value]))
        }
        try writer.close()
        let logs = try RecoveryTests.segmentFiles(path, suffix: ".log")
        let last = try #require(logs.last)
        let lastBase = DamagedFilesTests.baseOffset(of: last)
        // Find the segment's last batch and move its baseOffset 2^32 + 5 past the segment's base.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: last))
        var position = 0
        var lastBatch = 0
        while position + 12 <= bytes.count {
            lastBatch = position
            let length = bytes[(position + 8)..<(position + 12)].reduce(0) { $0 << 8 | Int($1) }
            position += 12 + length
        }
        let firstLost = bytes[lastBatch..<(lastBatch + 8)].reduce(Int64(0)) { $0 << 8 | Int64($1) }
        withUnsafeBytes(of: (lastBase + (1 << 32) + 5).bigEndian) { bytes.replaceSubrange(lastBatch..<(lastBatch + 8), with: $0) }
        try bytes.write(to: URL(fileURLWithPath: last))

        let log = try DamagedFilesTests.reopenClean(path)
        #expect(log.offsets.logEndOffset == firstLost, "the batch the segment cannot index is cut")
        #expect(try readAll(log) == expected.filter { $0.offset < firstLost })
        #expect(log.damage.count == 1)
        // Appends and rolls go on from there.
        let appended = try log.append(try makeBatch(values: [[7]], timestamps: [Int64.max / 2]), leaderEpoch: 0)
        #expect(appended.baseOffset == firstLost)
        try log.roll()
        try log.close()
    }

    @Test func aProducedBatchWithAnOutOfRangeBaseOffsetIsRefused() throws {
        var builder = RecordBatchBuilder()
        builder.append(key: nil, value: [1], timestamp: 1)
        builder.append(key: nil, value: [2], timestamp: 1)
        var bytes = try builder.build()
        // baseOffset is outside the CRC: the batch still checksums, but its offsets overflow.
        bytes.setInteger(Int64.max, at: bytes.readerIndex, endianness: .big)
        let error = #expect(throws: RecordBatchError.self) { _ = try RecordBatch(validating: bytes) }
        #expect(error?.code == .invalidOffsetRange)
        #expect(RecordBatchError(.invalidOffsetRange, "").kafkaErrorCode == .invalidRecord)
    }
}
