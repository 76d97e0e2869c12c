// runnel-log-writer: a test driver for the storage engine, run as a child process so that
// tests can kill it with SIGKILL in the middle of appends, and used to time large reopens.
//
//   runnel-log-writer append DIR      append forever with flush.messages=1 (fsync before ack);
//                                     print "acked N" once offsets below N are durable
//   runnel-log-writer fill DIR COUNT  write COUNT 10-byte records in batches of 1000, close
//   runnel-log-writer reopen DIR      reopen after a clean shutdown, print the time it took
import Foundation
import RunnelProtocol
import RunnelStorage

let partition = TopicPartition(topic: "crash", partition: 0)

/// The value of the record at `offset`, so a reader can check every byte it gets back.
func value(for offset: Int64) -> [UInt8] {
    Array("record-\(offset)".utf8)
}

func batch(from offset: Int64, count: Int) throws -> RecordBatch {
    var builder = RecordBatchBuilder()
    for index in 0..<count { builder.append(key: nil, value: value(for: offset + Int64(index)), timestamp: offset + Int64(index)) }
    return try RecordBatch(validating: builder.build())
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    FileHandle.standardError.write(Data("usage: runnel-log-writer append|fill|reopen DIR [COUNT]\n".utf8))
    exit(2)
}
let directory = arguments[2]
var config = LogConfig()
config.segmentBytes = 256 * 1024

switch arguments[1] {
case "append":
    config.flushMessages = 1
    let log = try PartitionLog(directory: directory, topicPartition: partition, config: config, hadCleanShutdown: false)
    var next = log.offsets.logEndOffset
    while true {
        let count = Int.random(in: 1...50)
        let result = try log.append(try batch(from: next, count: count), leaderEpoch: 0)
        try await log.waitUntilDurable(result.nextOffset)
        next = result.nextOffset
        // Unbuffered, so the parent sees each acknowledgement before it kills this process.
        FileHandle.standardOutput.write(Data("acked \(next)\n".utf8))
    }
case "fill":
    config.segmentBytes = 1024 * 1024 * 1024
    let total = Int64(arguments[3])!
    let log = try PartitionLog(directory: directory, topicPartition: partition, config: config, hadCleanShutdown: true)
    var next = log.offsets.logEndOffset
    while next < total {
        next = try log.append(try batch(from: next, count: Int(min(1000, total - next))), leaderEpoch: 0).nextOffset
    }
    try log.close()
    print("wrote \(next) records, \(log.sizeInBytes) bytes in \(log.segmentCount) segments")
case "reopen":
    config.segmentBytes = 1024 * 1024 * 1024
    let started = ContinuousClock.now
    let log = try PartitionLog(
        directory: directory, topicPartition: partition, config: config, recoveryPoint: Int64.max, hadCleanShutdown: true)
    let elapsed = ContinuousClock.now - started
    print("reopened \(log.offsets.logEndOffset) records (\(log.sizeInBytes) bytes) in \(elapsed), recovered bytes \(log.recoveredBytes)")
default:
    FileHandle.standardError.write(Data("unknown command \(arguments[1])\n".utf8))
    exit(2)
}
