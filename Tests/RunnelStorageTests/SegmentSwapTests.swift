import Foundation
import NIOCore
import RunnelProtocol
import Testing
@testable import RunnelStorage

/// Loading after a crash in the middle of a log cleaner swap: hand-made directories in each
/// state the swap protocol can leave (`SegmentSwap`), with cleaned output made by the real
/// batch filter. Every state loads as exactly the log before the clean or exactly after it.
@Suite struct SegmentSwapTests {
    /// A closed log of 40 batches (offsets 0..<160) over three or more segments; keys k0...k9.
    func makeLog(_ directory: TemporaryDirectory) throws -> String {
        let path = directory.path + "/events-0"
        let log = try PartitionLog(directory: path, topicPartition: testPartition, config: smallSegmentsConfig(), hadCleanShutdown: true)
        for index in 0..<40 {
            var builder = RecordBatchBuilder()
            for record in 0..<4 {
                builder.append(key: Array("k\((index * 4 + record) % 10)".utf8), value: Array(repeating: UInt8(index), count: 200), timestamp: 1)
            }
            _ = try log.append(try RecordBatch(validating: builder.build()), leaderEpoch: 0)
        }
        try log.close()
        return path
    }

    func segmentBases(_ path: String) throws -> [Int64] {
        try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".log") }.compactMap { Int64($0.dropLast(4)) }.sorted()
    }

    func batches(inFile file: String) throws -> [RecordBatch] {
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        return try RecordSet(ByteBuffer(bytes: data)).map { try RecordBatch(validating: $0) }
    }

    func stem(_ path: String, _ base: Int64) -> String { path + "/" + LogSegment.fileName(baseOffset: base, suffix: "") }

    /// What a cleaner makes of the first two segments: only each key's last record, the group's
    /// last batch always kept (so the copy ends where the second segment ends).
    func cleanedCopy(of path: String) throws -> (bytes: [UInt8], end: Int64, kept: [Int64]) {
        let bases = try segmentBases(path)
        let group = try batches(inFile: stem(path, bases[0]) + ".log") + batches(inFile: stem(path, bases[1]) + ".log")
        var latest: [String: Int64] = [:]
        for batch in group {
            try batch.forEachRecord(limits: RecordBatchLimits(maxMessageBytes: 1 << 20)) { latest[String(decoding: $0.key!, as: UTF8.self)] = $0.offset }
        }
        var bytes: [UInt8] = []
        for (index, batch) in group.enumerated() {
            let result = try batch.filtered(limits: RecordBatchLimits(maxMessageBytes: 1 << 20), keepEmpty: index == group.count - 1, deleteHorizonMs: nil) {
                latest[String(decoding: $0.key!, as: UTF8.self)] == $0.offset
            }
            switch result {
            case .unchanged: bytes += Array(batch.bytes.readableBytesView)
            case .dropped: continue
            case .rebuilt(let rebuilt, _): bytes += Array(rebuilt.readableBytesView)
            }
        }
        let kept = try RecordSet(ByteBuffer(bytes: bytes)).flatMap { try RecordBatch(validating: $0).records().map(\.offset) }
        return (bytes, group.last!.header.lastOffset + 1, kept)
    }

    /// Every record offset the log serves, and the problems loading reported.
    func reopen(_ path: String) throws -> (offsets: [Int64], problems: [String]) {
        let log = try PartitionLog(directory: path, topicPartition: testPartition, config: smallSegmentsConfig(), hadCleanShutdown: false)
        var offsets: [Int64] = []
        var next: Int64 = 0
        while let slice = try log.read(from: next, maxBytes: 1 << 20) {
            for bytes in RecordSet(try slice.readBytes()) { offsets += try RecordBatch(validating: bytes).records().map(\.offset) }
            next = slice.nextOffset
        }
        #expect(log.damage.isEmpty)
        let problems = log.startupProblems.map(\.message)
        try log.close()
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".cleaned") || $0.hasSuffix(".swap") || $0.hasSuffix(".deleted") }
        #expect(leftovers.isEmpty)
        return (offsets, problems)
    }

    @Test func unfinishedOutputIsDiscardedAndTheOldSegmentsStay() throws {
        let directory = TemporaryDirectory()
        let path = try makeLog(directory)
        let base = try segmentBases(path)[0]
        let copy = try cleanedCopy(of: path)
        try Data(copy.bytes).write(to: URL(fileURLWithPath: stem(path, base) + ".log.cleaned"))
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: stem(path, base) + ".index.cleaned"))
        // Indexes renamed to .swap, the log not yet: still not committed.
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: stem(path, base) + ".timeindex.swap"))
        let (offsets, problems) = try reopen(path)
        #expect(offsets == Array(0..<160))
        #expect(problems.contains { $0.contains("discarded an unfinished log cleaner output") })
    }

    @Test(arguments: [false, true])
    func aCommittedSwapReplacesExactlyTheSegmentsItCameFrom(oldFilesMovedAway: Bool) throws {
        let directory = TemporaryDirectory()
        let path = try makeLog(directory)
        let bases = try segmentBases(path)
        #expect(bases.count >= 3)
        let copy = try cleanedCopy(of: path)
        #expect(copy.end == bases[2])
        try Data(copy.bytes).write(to: URL(fileURLWithPath: stem(path, bases[0]) + ".log.swap"))
        try Data([9]).write(to: URL(fileURLWithPath: stem(path, bases[0]) + ".index.swap"))
        if oldFilesMovedAway {
            // The crash came after the old files were renamed away, before the swap went live.
            for suffix in [".log", ".index", ".timeindex"] {
                try FileManager.default.moveItem(atPath: stem(path, bases[1]) + suffix, toPath: stem(path, bases[1]) + suffix + ".deleted")
            }
            try FileManager.default.moveItem(atPath: stem(path, bases[0]) + ".index", toPath: stem(path, bases[0]) + ".index.deleted")
        }
        let (offsets, problems) = try reopen(path)
        #expect(offsets == copy.kept + Array(copy.end..<160))
        #expect(copy.kept.count < Int(copy.end), "the copy is smaller than what it replaced")
        #expect(problems.contains { $0.contains("completed an interrupted log cleaner swap") })
        #expect(try segmentBases(path).first == bases[0])
        #expect(!(try segmentBases(path)).contains(bases[1]))
        // Loading again finds nothing to do and the same records.
        let again = try reopen(path)
        #expect(again.offsets == offsets)
        #expect(!again.problems.contains { $0.contains("log cleaner") })
    }
}
