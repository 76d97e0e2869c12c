import Foundation
import NIOCore
import RunnelProtocol
import RunnelStorage
import Testing
@testable import RunnelBroker

/// The hand-framed Fetch response (file slices for sendfile) must be exactly what the generated
/// FetchResponse codec reads, at every version we serve.
@Suite struct FetchResponseWriterTests {
    @Test(arguments: Array(Int16(4)...12))
    func decodesAsTheGeneratedFetchResponse(version: Int16) throws {
        let directory = NSTemporaryDirectory() + "runnel-fetch-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = try PartitionLog(
            directory: directory + "/t-0", topicPartition: TopicPartition(topic: "t", partition: 0), config: LogConfig(),
            hadCleanShutdown: true)
        var builder = RecordBatchBuilder()
        builder.append(key: nil, value: Array("hello".utf8), timestamp: 1)
        let batch = try RecordBatch(validating: builder.build())
        for _ in 0..<3 { _ = try log.append(batch, leaderEpoch: 0) }
        let slice = try #require(try log.read(from: 0, maxBytes: 1 << 20))

        let topics = [
            FetchResponseWriter.TopicData(name: "t", partitions: [
                .init(partitionIndex: 0, highWatermark: 3, lastStableOffset: 3, logStartOffset: 0, records: slice),
                .init(partitionIndex: 1, errorCode: .unknownTopicOrPartition),
            ]),
            FetchResponseWriter.TopicData(name: "empty", partitions: [.init(partitionIndex: 0, highWatermark: 0, records: nil)]),
        ]
        var wire = ByteBuffer()
        var fileParts = 0
        for part in FetchResponseWriter.encode(version: version, topics: topics) {
            switch part {
            case .bytes(let bytes): wire.writeImmutableBuffer(bytes)
            case .file(let file):
                fileParts += 1
                wire.writeImmutableBuffer(try file.readBytes())
            }
        }
        #expect(fileParts == 1, "record bytes travel as a file slice")
        let decoded = try FetchResponse(from: &wire, version: version)
        #expect(wire.readableBytes == 0)
        #expect(decoded.responses.map(\.topic) == ["t", "empty"])
        let first = decoded.responses[0].partitions[0]
        #expect(first.highWatermark == 3 && first.errorCode == 0)
        if version >= 5 { #expect(first.logStartOffset == 0) }
        #expect(first.records == (try slice.readBytes()))
        #expect(decoded.responses[0].partitions[1].errorCode == KafkaErrorCode.unknownTopicOrPartition.rawValue)
        #expect(decoded.responses[1].partitions[0].records?.readableBytes ?? 0 == 0)
    }
}
