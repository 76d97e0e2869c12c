// Storage-engine benchmarks: append, read-slice lookups, recovery.
// Append iterations are one batch each: MB/s = throughput x batch size (in the names).
import Benchmark
import Foundation
import NIOCore
import RunnelProtocol
import RunnelStorage

let partition = TopicPartition(topic: "bench", partition: 0)

/// A batch of 1 KiB records totalling about `bytes`, uncompressed.
func batch(bytes: Int) -> RecordBatch {
    var builder = RecordBatchBuilder()
    let value = [UInt8]((0..<1024).map { UInt8(truncatingIfNeeded: $0 &* 7) })
    while builder.uncompressedSizeInBytes + 1040 <= bytes {
        builder.append(key: nil, value: value, timestamp: 1_700_000_000_000)
    }
    return try! RecordBatch(validating: builder.build())
}

func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "runnel-bench-" + UUID().uuidString
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A log of 200k 4 KiB batches in 128 MiB segments, built once for the lookup benchmark.
let readLog: PartitionLog = {
    var config = LogConfig()
    config.segmentBytes = 128 * 1024 * 1024
    let log = try! PartitionLog(
        directory: temporaryDirectory() + "/bench-0", topicPartition: partition, config: config, hadCleanShutdown: true)
    let input = batch(bytes: 4 * 1024)
    for _ in 0..<200_000 { _ = try! log.append(input, leaderEpoch: 0) }
    return log
}()

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock], timeUnits: .microseconds, maxDuration: .seconds(3), maxIterations: 1_000_000)

    // Each iteration appends 64 MiB to a fresh log (set up outside the measurement, with one
    // warm-up append that preallocates the index files): MB/s = iterations/s x 64.
    for (label, size) in [("16 KiB", 16 * 1024), ("1 MiB", 1024 * 1024)] {
        for durable in [false, true] {
            let name = "append 64 MiB as \(label) batches of 1 KiB records\(durable ? ", fsync before ack" : "") (x 64 = MB/s)"
            Benchmark(name, configuration: .init(maxIterations: 30)) { benchmark in
                let directory = temporaryDirectory()
                defer { try? FileManager.default.removeItem(atPath: directory) }
                var config = LogConfig()
                config.flushMessages = durable ? 1 : Int64.max
                let log = try PartitionLog(directory: directory + "/bench-0", topicPartition: partition, config: config, hadCleanShutdown: true)
                let input = batch(bytes: size)
                _ = try log.append(input, leaderEpoch: 0)
                let appends = 64 * 1024 * 1024 / input.bytes.readableBytes
                benchmark.startMeasurement()
                for _ in 0..<appends {
                    let result = try log.append(input, leaderEpoch: 0)
                    if durable { try await log.waitUntilDurable(result.nextOffset) }
                }
                benchmark.stopMeasurement()
            }
        }
    }

    // Group commit: 8 concurrent producers, each waiting for its own fsync; appends that arrive
    // while one fsync runs share the next.
    Benchmark("append 64 MiB as 16 KiB batches from 8 concurrent producers, fsync before ack (x 64 = MB/s)",
              configuration: .init(maxIterations: 30)) { benchmark in
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = LogConfig()
        config.flushMessages = 1
        let log = try PartitionLog(directory: directory + "/bench-0", topicPartition: partition, config: config, hadCleanShutdown: true)
        let input = batch(bytes: 16 * 1024)
        _ = try log.append(input, leaderEpoch: 0)
        let appendsPerProducer = 64 * 1024 * 1024 / input.bytes.readableBytes / 8
        benchmark.startMeasurement()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<appendsPerProducer {
                        let result = try log.append(input, leaderEpoch: 0)
                        try await log.waitUntilDurable(result.nextOffset)
                    }
                }
            }
            try await group.waitForAll()
        }
        benchmark.stopMeasurement()
    }

    Benchmark(
        "read-slice lookup at a random offset, 200k batches in 8 segments (lookups/s)",
        configuration: .init(scalingFactor: .kilo)
    ) { benchmark in
        let log = readLog
        let end = log.offsets.logEndOffset
        var generator = SystemRandomNumberGenerator()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try log.read(from: Int64.random(in: 0..<end, using: &generator), maxBytes: 1024 * 1024))
        }
        benchmark.stopMeasurement()
    }

    // The log cleaner's key map (24 bytes a key, sized for load 0.9): 1 M distinct 16-byte keys
    // put, then each looked up again, then 1 M keys it never saw looked up (misses probe longest).
    let mapKeys = (0..<1_000_000).map { index -> [UInt8] in
        withUnsafeBytes(of: (UInt64(index), UInt64(index) &* 0x9E37_79B9_7F4A_7C15)) { Array($0) }
    }
    let absentKeys = mapKeys.map { $0.reversed() as [UInt8] }
    Benchmark("offset map: 1 M puts, 1 M hits, 1 M misses at load 0.9 (x 3 M = operations/s)", configuration: .init(maxIterations: 20)) { benchmark in
        let map = OffsetMap(memoryBytes: 128 * 1024 * 1024, expectedKeys: mapKeys.count)
        benchmark.startMeasurement()
        for (offset, key) in mapKeys.enumerated() { key.withUnsafeBytes { _ = map.put($0, offset: Int64(offset)) } }
        for key in mapKeys { key.withUnsafeBytes { blackHole(map.offset(of: $0)) } }
        for key in absentKeys { key.withUnsafeBytes { blackHole(map.offset(of: $0)) } }
        benchmark.stopMeasurement()
    }

    Benchmark("recover a 256 MiB segment after a crash (recoveries/s; x 256 = MB/s)", configuration: .init(maxIterations: 20)) { benchmark in
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = LogConfig()
        config.segmentBytes = 512 * 1024 * 1024
        let path = directory + "/bench-0"
        do {
            let log = try PartitionLog(directory: path, topicPartition: partition, config: config, hadCleanShutdown: true)
            let input = batch(bytes: 64 * 1024)
            while log.sizeInBytes < 256 * 1024 * 1024 { _ = try log.append(input, leaderEpoch: 0) }
            try log.close()
        }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try PartitionLog(directory: path, topicPartition: partition, config: config, hadCleanShutdown: false))
        }
        benchmark.stopMeasurement()
    }
}
