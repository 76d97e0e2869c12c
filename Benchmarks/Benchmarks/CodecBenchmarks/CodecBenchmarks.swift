// Byte-format micro-benchmarks: CRC32C, codecs, RecordBatch decode.
// Each iteration processes one MiB (or one batch), so the reported throughput reads as MiB/s
// (or batches/s); names say which.
import Benchmark
import NIOCore
import RunnelCodecs
import RunnelProtocol

/// About one MiB of JSON log lines, the payload Runnel users ingest.
let logLines: [UInt8] = {
    var text = ""
    var index = 0
    while text.utf8.count < 1 << 20 {
        text += #"{"ts":"2026-11-26T12:\#(index % 60):\#(index % 7)Z","level":"\#(index % 5 == 0 ? "WARN" : "INFO")","#
        text += #""service":"checkout-\#(index % 9)","trace":"\#(String(index &* 2_654_435_761, radix: 16))","#
        text += #""msg":"request completed","latency_ms":\#(index % 997)}"# + "\n"
        index += 1
    }
    return Array(text.utf8.prefix(1 << 20))
}()

/// A 1 MiB-ish batch of 1 KiB records, as a producer with batch.size=1 MiB would send.
func batchOfKiBRecords(codec: CompressionCodec) -> RecordBatch {
    var builder = RecordBatchBuilder(compression: codec)
    var offset = 0
    while builder.uncompressedSizeInBytes < 1 << 20 {
        builder.append(key: nil, value: Array(logLines[offset..<(offset + 1024)]), timestamp: 1_700_000_000_000)
        offset = (offset + 1024) % (logLines.count - 1024)
    }
    return try! RecordBatch(validating: builder.build())
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal], timeUnits: .microseconds,
        maxDuration: .seconds(2), maxIterations: 100_000)

    Benchmark("CRC32C hardware (MiB/s)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(logLines.withUnsafeBytes { CRC32C.hardwareChecksum($0) })
        }
    }
    Benchmark("CRC32C portable (MiB/s)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(logLines.withUnsafeBytes { CRC32C.portableChecksum($0) })
        }
    }

    for codec in [CompressionCodec.gzip, .snappy, .lz4, .zstd] {
        let compressed = try! Compression.compress(logLines, codec: codec)
        Benchmark("compress \(codec) log lines (MiB/s)") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try Compression.compress(logLines, codec: codec))
            }
        }
        Benchmark("decompress \(codec) log lines (MiB/s of output)") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try Compression.decompress(compressed, codec: codec, maxOutputBytes: 1 << 21))
            }
        }
    }

    for codec in CompressionCodec.allCases {
        let batch = batchOfKiBRecords(codec: codec)
        let recordsPerBatch = Int(batch.header.recordsCount)
        Benchmark("validate \(codec) batch, header + CRC (batches/s, \(recordsPerBatch) records of 1 KiB)") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try RecordBatch(validating: batch.bytes))
            }
        }
        Benchmark("decode \(codec) batch records (batches/s, \(recordsPerBatch) records of 1 KiB)") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try batch.records())
            }
        }
    }

    // The producer's encode path: records written into a batch sized up front, finished in
    // place (no copy of the records for an uncompressed batch).
    let hundredByteValues = (0..<64).map { index in ByteBuffer(bytes: logLines[(index * 100)..<(index * 100 + 100)]) }
    Benchmark("build uncompressed batch (batches/s, 10,000 records of 100 B)") { benchmark in
        for _ in benchmark.scaledIterations {
            var builder = RecordBatchBuilder(compression: .none, capacity: 1 << 20)
            for index in 0..<10_000 {
                builder.append(key: nil, value: hundredByteValues[index & 63], timestamp: 1_700_000_000_000 + Int64(index))
            }
            blackHole(try builder.finish())
        }
    }
}
