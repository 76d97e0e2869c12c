import Foundation
import NIOCore
import RunnelProtocol
import Testing
@testable import RunnelStorage

/// Kills a real process with SIGKILL in the middle of fsync-before-ack appends: every offset it
/// acknowledged must come back, byte for byte, and the log must accept appends again.
@Suite struct CrashTests {
    static var writerPath: String {
        // The test bundle and the executables are built into the same directory.
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = bundle.deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("runnel-log-writer").path),
              directory.path != "/" {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("runnel-log-writer").path
    }

    @Test(arguments: 0..<3)
    func acknowledgedAppendsSurviveSIGKILL(round: Int) throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/crash-0"
        var acked: Int64 = 0
        // Several kill/restart cycles on the same log, each resuming where the last left off.
        for cycle in 0..<3 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.writerPath)
            process.arguments = ["append", path]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let reader = pipe.fileHandleForReading
            var buffer = Data()
            var ackedThisRun = 0
            // Read acknowledgements until enough have arrived, then kill without warning.
            while ackedThisRun < 40 + 30 * round + 10 * cycle {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: buffer[..<newline], as: UTF8.self)
                    buffer.removeSubrange(...newline)
                    if line.hasPrefix("acked "), let offset = Int64(line.dropFirst(6)) {
                        acked = max(acked, offset)
                        ackedThisRun += 1
                    }
                }
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal)
            #expect(ackedThisRun > 0, "the writer acknowledged nothing in cycle \(cycle)")
        }

        let log = try PartitionLog(
            directory: path, topicPartition: TopicPartition(topic: "crash", partition: 0), config: LogConfig(),
            hadCleanShutdown: false)
        #expect(log.offsets.logEndOffset >= acked)
        let records = try readAll(log)
        #expect(records.count == Int(log.offsets.logEndOffset))
        for record in records {
            #expect(record.value == Array("record-\(record.offset)".utf8))
        }
        let next = try log.append(try makeBatch(values: [[1]], timestamps: [1]), leaderEpoch: 0)
        #expect(next.baseOffset == log.offsets.logEndOffset - 1)
    }
}
