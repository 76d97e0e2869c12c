import Foundation
import NIOCore
import RunnelCodecs
import RunnelProtocol
@testable import RunnelStorage

/// A fresh temporary directory per test, removed at the end.
final class TemporaryDirectory {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "runnel-storage-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A record as tests know it: what went in, to compare with what comes out.
struct TestRecord: Equatable {
    var offset: Int64
    var timestamp: Int64
    var value: [UInt8]
}

func makeBatch(values: [[UInt8]], timestamps: [Int64], codec: CompressionCodec = .none) throws -> RecordBatch {
    var builder = RecordBatchBuilder(compression: codec)
    for (value, timestamp) in zip(values, timestamps) {
        builder.append(key: nil, value: value, timestamp: timestamp)
    }
    return try RecordBatch(validating: builder.build())
}

/// Reads the whole log through `read(from:maxBytes:)` as a consumer would, checking that every
/// served batch is valid, and returns its records.
func readAll(_ log: PartitionLog, maxBytes: Int = 64 * 1024) throws -> [TestRecord] {
    var records: [TestRecord] = []
    var offset = log.offsets.logStartOffset
    while let slice = try log.read(from: offset, maxBytes: maxBytes) {
        for batchBytes in RecordSet(try slice.readBytes()) {
            let batch = try RecordBatch(validating: batchBytes)
            for record in try batch.records() where record.offset >= offset {
                records.append(TestRecord(
                    offset: record.offset, timestamp: record.timestamp, value: Array(record.value!.readableBytesView)))
            }
        }
        offset = slice.nextOffset
    }
    return records
}

func smallSegmentsConfig(segmentBytes: Int = 16 * 1024, indexIntervalBytes: Int = 1024) -> LogConfig {
    var config = LogConfig()
    config.segmentBytes = segmentBytes
    config.indexIntervalBytes = indexIntervalBytes
    return config
}

let testPartition = TopicPartition(topic: "events", partition: 0)
