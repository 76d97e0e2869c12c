import Foundation
import RunnelProtocol
import Testing
@testable import RunnelStorage

/// The trace sidecar (`runnel trace`): who produced a batch, kept beside its segment, found
/// again after a restart, never attributed to a batch it does not describe, gone with its segment.
@Suite struct TraceSidecarTests {
    let orders = BatchOrigin(clientId: "orders-service", address: "10.0.0.7:51234")
    let billing = BatchOrigin(clientId: "billing", address: "10.0.0.8:40000")
    static let now: Int64 = 1_700_000_000_000

    func open(_ path: String) throws -> PartitionLog {
        try PartitionLog(
            directory: path, topicPartition: testPartition, config: smallSegmentsConfig(), hadCleanShutdown: true, clock: { Self.now })
    }

    /// Batch `i` holds offsets 3i..<3i+3; even batches come from `orders`, odd ones from `billing`.
    func fill(_ log: PartitionLog, batches: Int) throws {
        for i in 0..<batches {
            let values = (0..<3).map { [UInt8](repeating: UInt8(truncatingIfNeeded: i * 3 + $0), count: 300) }
            _ = try log.append(makeBatch(values: values, timestamps: [1, 2, 3]), leaderEpoch: 0, origin: i % 2 == 0 ? orders : billing)
        }
    }

    @Test func aBatchIsTracedToItsClientAcrossSegmentsAndARestart() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        var log = try open(path)
        try fill(log, batches: 200)
        #expect(log.segmentCount > 3)
        for (offset, origin) in [(Int64(0), orders), (301, orders), (305, billing), (599, billing)] {
            let found = try #require(try log.trace(at: offset))
            #expect(found.batch.baseOffset == offset - offset % 3)
            #expect(found.trace?.origin == origin, "offset \(offset)")
            #expect(found.trace?.appendTimeMs == Self.now)
        }
        try log.close()
        log = try open(path)
        let reopened = try #require(try log.trace(at: 301))
        #expect(reopened.trace?.origin == orders)
        #expect(reopened.trace?.producerId == -1 && reopened.trace?.baseSequence == -1)
    }

    @Test func aTraceIsNeverGivenToABatchItDoesNotDescribe() throws {
        let directory = TemporaryDirectory()
        let log = try open(directory.path + "/events-0")
        try fill(log, batches: 10)
        // Truncated (a follower's divergence) and written again with other records: the old
        // entries at these offsets must not be attributed to the new batches.
        try log.truncate(to: 15)
        _ = try log.append(makeBatch(values: [[9], [9], [9]], timestamps: [5, 5, 5]), leaderEpoch: 1)
        let rewritten = try #require(try log.trace(at: 16))
        #expect(rewritten.batch.baseOffset == 15)
        #expect(rewritten.trace == nil)
        _ = try log.append(makeBatch(values: [[7], [7], [7]], timestamps: [6, 6, 6]), leaderEpoch: 1, origin: billing)
        #expect(try log.trace(at: 18)?.trace?.origin == billing)
        #expect(try log.trace(at: 14)?.trace?.origin == orders)
        #expect(throws: StorageError.self) { try log.trace(at: 21) }
    }

    @Test func aTornSidecarTailLeavesTheEntriesBeforeIt() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        var log = try open(path)
        try fill(log, batches: 4)
        try log.close()
        let sidecar = path + "/" + LogSegment.fileName(baseOffset: 0, suffix: TraceSidecar.fileSuffix)
        let handle = try #require(FileHandle(forWritingAtPath: sidecar))
        handle.seekToEndOfFile()
        handle.write(Data([2, 0, 0, 0]))  // half a batch entry, as a crash mid-write leaves it
        handle.closeFile()
        log = try open(path)
        #expect(try log.trace(at: 10)?.trace?.origin == billing)
    }

    @Test func sidecarsGoWithTheirSegments() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/events-0"
        var log = try open(path)
        try fill(log, batches: 200)
        try log.close()
        log = try open(path)
        let before = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".trace") }.count
        #expect(before == log.segmentCount)
        log.updateHighWatermark(600)  // only records below the high watermark may be deleted
        _ = try log.deleteRecords(before: 400)
        _ = try log.applyRetention(now: Self.now)
        let names = try FileManager.default.contentsOfDirectory(atPath: path)
        let traces = Set(names.filter { $0.hasSuffix(".trace") }.map { $0.dropLast(6) })
        let logs = Set(names.filter { $0.hasSuffix(".log") }.map { $0.dropLast(4) })
        #expect(traces.count < before)
        #expect(traces.isSubset(of: logs))
        // One left behind by a crash (its log gone) is removed at load.
        FileManager.default.createFile(atPath: path + "/" + LogSegment.fileName(baseOffset: 1, suffix: ".trace"), contents: Data([1]))
        try log.close()
        log = try open(path)
        #expect(!FileManager.default.fileExists(atPath: path + "/" + LogSegment.fileName(baseOffset: 1, suffix: ".trace")))
    }
}
