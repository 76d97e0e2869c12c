import Foundation
import NIOCore
import RunnelProtocol
@testable import RunnelBroker
@testable import RunnelStorage
import Testing

/// Sizes that reach an int32 on the fetch path are checked: the frame's size prefix, the records
/// length field, and the budget that keeps a fetch response within a frame.
@Suite struct FetchSizeLimitTests {
    func emptyLogFile() throws -> (LogFile, String) {
        let directory = NSTemporaryDirectory() + "runnel-size-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return (try LogFile(path: directory + "/00000000000000000000.log", create: true), directory)
    }

    @Test func framePrefixRefusesResponsesPastInt32MaxInsteadOfTrapping() throws {
        let (file, directory) = try emptyLogFile()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Lengths only: nothing is read. 1 GiB + 1 GiB + header passes Int32.max.
        let gib = FileSlice(file: file, position: 0, length: 1 << 30, firstOffset: 0, nextOffset: 1)
        let tooLarge = KafkaResponse(correlationId: 1, headerVersion: 1, parts: [.file(gib), .file(gib)])
        #expect(tooLarge.frameSize == (2 << 30) + 5)
        #expect(throws: KafkaResponse.TooLargeForFrame.self) { try tooLarge.framePrefix(allocator: ByteBufferAllocator()) }

        // The largest frame that fits is framed.
        let fits = FileSlice(file: file, position: 0, length: Int(Int32.max) - 4, firstOffset: 0, nextOffset: 1)
        var prefix = try KafkaResponse(correlationId: 9, headerVersion: 0, parts: [.file(fits)]).framePrefix(allocator: ByteBufferAllocator())
        #expect(prefix.readInteger(endianness: .big, as: Int32.self) == Int32.max)
        #expect(prefix.readInteger(endianness: .big, as: Int32.self) == 9)
    }

    @Test(arguments: Array(Int16(4)...12))
    func theNonRecordBoundCoversEveryVersionsEncoding(version: Int16) {
        let names = ["t", String(repeating: "n", count: 249), "ünïcödé"]
        let topics = names.enumerated().map { index, name in
            FetchResponseWriter.TopicData(name: name, partitions: (0..<(index * 7 + 1)).map {
                FetchResponseWriter.PartitionData(
                    partitionIndex: Int32($0), errorCode: .offsetOutOfRange, highWatermark: .max, lastStableOffset: .max, logStartOffset: .max)
            })
        }
        let encoded = FetchResponseWriter.encode(version: version, topics: topics).reduce(0) { $0 + $1.size }
        // The bound also covers the response header (5 bytes) and, per partition, the records
        // field's length growing from its empty form (a 1-byte compact varint in v12, a 4-byte
        // int32 before) to its longest (5 bytes in v12, still 4 before).
        let bound = FetchResponseWriter.nonRecordBytesBound(topics: topics.map { ($0.name, $0.partitions.count) })
        let lengthGrowth = version >= 12 ? 4 : 0
        let partitions = topics.reduce(0) { $0 + $1.partitions.count }
        #expect(encoded + 5 + lengthGrowth * partitions <= bound)
    }

    @Test func aSliceTheRecordsFieldCannotCarryIsWrittenAsNoRecords() throws {
        let (file, directory) = try emptyLogFile()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let huge = FileSlice(file: file, position: 0, length: 3 << 30, firstOffset: 0, nextOffset: 1)
        for version in [Int16(4), 12] {
            let parts = FetchResponseWriter.encode(
                version: version, topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, records: huge)])])
            var wire = ByteBuffer()
            for part in parts {
                guard case .bytes(let bytes) = part else {
                    Issue.record("no file part may be sent for a slice that does not fit")
                    continue
                }
                wire.writeImmutableBuffer(bytes)
            }
            let decoded = try FetchResponse(from: &wire, version: version)
            #expect(decoded.responses[0].partitions[0].records?.readableBytes ?? 0 == 0)
        }
    }

    @Test func theResponseBudgetIsTheSmallerOfTheRequestAndFetchMaxBytes() {
        var request = FetchRequest()
        request.maxBytes = Int32.max
        request.topics = [.init(topic: "t", partitions: [.init(partition: 0, fetchOffset: 0, partitionMaxBytes: Int32.max)])]
        #expect(FetchHandler.Limits(request: request, fetchMaxBytes: 57_671_680).responseBytes == 57_671_680)
        request.maxBytes = 1000
        #expect(FetchHandler.Limits(request: request, fetchMaxBytes: 57_671_680).responseBytes == 1000)
        request.maxBytes = -1
        #expect(FetchHandler.Limits(request: request, fetchMaxBytes: 57_671_680).responseBytes == 0)
        let limits = FetchHandler.Limits(request: request, fetchMaxBytes: 57_671_680)
        #expect(limits.frameRecordBytes < Int(Int32.max) && limits.frameRecordBytes > Int(Int32.max) - 1000)
    }
}
