import NIOCore
import RunnelCodecs
import RunnelProtocol

/// A topic's partition.
public struct TopicPartition: Hashable, Sendable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)-\(partition)" }
}

public typealias DeliveryCallback = @Sendable (Result<RecordMetadata, any Error>) -> Void

/// Records for one partition that travel in one RecordBatch. While open it belongs to the
/// accumulator (under its lock); once drained it belongs to the one request carrying it, and
/// after a retriable failure it goes back to the accumulator. That hand-over is why it is a class
/// marked `@unchecked Sendable`: only one owner touches it at a time.
final class ProducerBatch: @unchecked Sendable {
    let topicPartition: TopicPartition
    private(set) var builder: RecordBatchBuilder
    private(set) var callbacks: [DeliveryCallback?] = []
    private(set) var timestamps: [Int64] = []
    let createdAt: NIODeadline
    /// Bytes of `buffer.memory` this batch holds until it completes.
    private(set) var reservedBytes = 0
    var attempts = 0
    /// After a retriable failure, not sent again before this (`retry.backoff.ms`).
    var retryAt: NIODeadline?
    /// The first sequence number, assigned when the batch is first sent by an idempotent producer.
    var baseSequence: Int32?
    /// The encoded batch, kept so that a retry sends the same bytes (same sequence, same CRC).
    private var encoded: ByteBuffer?

    init(topicPartition: TopicPartition, compression: CompressionCodec, now: NIODeadline) {
        self.topicPartition = topicPartition
        self.builder = RecordBatchBuilder(compression: compression)
        self.createdAt = now
    }

    var recordCount: Int { builder.recordCount }
    var sizeInBytes: Int { builder.uncompressedSizeInBytes }

    func append(_ record: ProducerRecord, timestamp: Int64, reserving bytes: Int, callback: DeliveryCallback?) {
        builder.append(key: record.key, value: record.value, headers: record.headers, timestamp: timestamp)
        callbacks.append(callback)
        timestamps.append(timestamp)
        reservedBytes += bytes
    }

    /// The RecordBatch bytes, built (and compressed) once.
    func encode(producerId: Int64, producerEpoch: Int16) throws -> ByteBuffer {
        if let encoded { return encoded }
        if let baseSequence {
            builder.producerId = producerId
            builder.producerEpoch = producerEpoch
            builder.baseSequence = baseSequence
        }
        let bytes = try builder.build()
        encoded = bytes
        return bytes
    }

    func complete(baseOffset: Int64, logAppendTime: Int64) {
        for (index, callback) in callbacks.enumerated() {
            guard let callback else { continue }
            callback(.success(RecordMetadata(
                topic: topicPartition.topic, partition: topicPartition.partition,
                offset: baseOffset < 0 ? -1 : baseOffset + Int64(index),
                timestamp: logAppendTime >= 0 ? logAppendTime : timestamps[index])))
        }
    }

    func fail(_ error: any Error) {
        for callback in callbacks { callback?(.failure(error)) }
    }
}
