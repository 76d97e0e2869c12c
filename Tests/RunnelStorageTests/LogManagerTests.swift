import Foundation
import RunnelCodecs
import RunnelProtocol
import Testing
@testable import RunnelStorage

@Suite struct LogManagerTests {
    @Test func partitionsComeBackAfterACleanShutdownAndAfterACrash() throws {
        let directory = TemporaryDirectory()
        let dirs = [directory.path + "/a", directory.path + "/b"]
        let partitions = (0..<6).map { TopicPartition(topic: $0 < 3 ? "orders" : "audit-log", partition: Int32($0 % 3)) }
        var written: [TopicPartition: Int64] = [:]
        do {
            let manager = try LogManager(directories: dirs)
            let report = try manager.startup { _ in smallSegmentsConfig() }
            #expect(report.partitions == 0 && report.cleanShutdown)
            for (index, partition) in partitions.enumerated() {
                let log = try manager.createLog(for: partition, config: smallSegmentsConfig())
                for batch in 0...index {
                    _ = try log.append(try makeBatch(values: [[UInt8(batch)]], timestamps: [Int64(batch)]), leaderEpoch: 0)
                }
                log.updateHighWatermark(log.offsets.logEndOffset)
                written[partition] = log.offsets.logEndOffset
            }
            #expect(Set(dirs.map { try! FileManager.default.contentsOfDirectory(atPath: $0).filter { $0.contains("-") }.count }) == [3])
            try manager.shutdown()
        }
        do {
            let manager = try LogManager(directories: dirs)
            let report = try manager.startup { _ in smallSegmentsConfig() }
            #expect(report.cleanShutdown)
            #expect(report.partitions == 6)
            for partition in partitions {
                let log = try #require(manager.log(for: partition))
                #expect(log.offsets.logEndOffset == written[partition])
                #expect(log.offsets.highWatermark == written[partition])
                _ = try log.append(try makeBatch(values: [[9]], timestamps: [9]), leaderEpoch: 1)
            }
            try manager.writeCheckpoints()
            // No shutdown: as if the process died here.
        }
        let manager = try LogManager(directories: dirs)
        let report = try manager.startup { _ in smallSegmentsConfig() }
        #expect(!report.cleanShutdown)
        for partition in partitions {
            #expect(manager.log(for: partition)?.offsets.logEndOffset == written[partition]! + 1)
        }
        try manager.deleteLog(for: partitions[0])
        #expect(manager.log(for: partitions[0]) == nil)
        #expect(!FileManager.default.fileExists(atPath: dirs[0] + "/orders-0") && !FileManager.default.fileExists(atPath: dirs[1] + "/orders-0"))
    }

    @Test func maintenanceAppliesRetentionAndFlushMs() throws {
        let directory = TemporaryDirectory()
        let now = ManualClock(milliseconds: 1_000_000)
        let manager = try LogManager(directories: [directory.path], clock: { now.milliseconds })
        _ = try manager.startup { _ in LogConfig() }
        var config = smallSegmentsConfig(segmentBytes: 2048)
        config.retentionMs = 60_000
        config.flushMs = 1000
        let log = try manager.createLog(for: testPartition, config: config)
        for index in 0..<10 {
            _ = try log.append(try makeBatch(values: [[UInt8](repeating: 1, count: 900)], timestamps: [1_000_000 + Int64(index)]), leaderEpoch: 0)
        }
        #expect(log.offsets.recoveryPoint == 0)
        now.milliseconds += 2000
        #expect(try manager.runMaintenance() == 0)
        #expect(log.offsets.recoveryPoint == 10, "flush.ms elapsed: flushed")
        now.milliseconds += 120_000
        #expect(try manager.runMaintenance() > 0)
        #expect(log.segmentCount == 1, "everything but the active segment expired")
        let checkpoint = try String(contentsOfFile: directory.path + "/log-start-offset-checkpoint", encoding: .utf8)
        #expect(checkpoint.contains("events 0 \(log.offsets.logStartOffset)"))
    }
}

/// A clock tests move by hand.
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int64
    init(milliseconds: Int64) { value = milliseconds }
    var milliseconds: Int64 {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }
}
