import NIOCore
import RunnelCodecs
import RunnelProtocol

public typealias DeliveryCallback = @Sendable (Result<RecordMetadata, any Error>) -> Void

/// Records for one partition that travel in one RecordBatch. While open it belongs to the
/// accumulator (under its lock); once drained it belongs to the one request carrying it, and
/// after a retriable failure it goes back to the accumulator. That hand-over is why it is a class
/// marked `@unchecked Sendable`: only one owner touches it at a time.
final class ProducerBatch: @unchecked Sendable {
    /// Grows with creation, so that a flush can wait for the batches made before it.
    let id: Int
    let topicPartition: TopicPartition
    /// Everything appending changes, in one stored property: one exclusivity check per record
    /// instead of one per field.
    private var content: Content
    let createdAt: NIODeadline
    var attempts = 0
    /// After a retriable failure, not sent again before this (`retry.backoff.ms`).
    var retryAt: NIODeadline?
    /// The first sequence number, assigned when the batch is first sent by an idempotent producer.
    var baseSequence: Int32?
    /// The encoded batch, kept so that a retry sends the same bytes (same sequence, same CRC),
    /// and the producer identity it carries.
    private var encoded: ByteBuffer?
    private var stamped: (producerId: Int64, producerEpoch: Int16, baseSequence: Int32)?

    private struct Content {
        var builder: RecordBatchBuilder
        var callbacks: [DeliveryCallback?] = []
        var timestamps: [Int64] = []
        /// Bytes of `buffer.memory` this batch holds until it completes.
        var reservedBytes = 0

        mutating func append(_ record: ProducerRecord, timestamp: Int64, reserving bytes: Int, callback: DeliveryCallback?) {
            builder.append(key: record.key, value: record.value, headers: record.headers, timestamp: timestamp)
            callbacks.append(callback)
            timestamps.append(timestamp)
            reservedBytes += bytes
        }
    }

    init(id: Int, topicPartition: TopicPartition, compression: CompressionCodec, capacity: Int, now: NIODeadline) {
        self.id = id
        self.topicPartition = topicPartition
        self.content = Content(builder: RecordBatchBuilder(compression: compression, capacity: capacity))
        self.createdAt = now
    }

    var recordCount: Int { content.builder.recordCount }
    /// Before compression while open; the encoded size once built.
    var sizeInBytes: Int { encoded?.readableBytes ?? content.builder.uncompressedSizeInBytes }
    var reservedBytes: Int { content.reservedBytes }

    func append(_ record: ProducerRecord, timestamp: Int64, reserving bytes: Int, callback: DeliveryCallback?) {
        content.append(record, timestamp: timestamp, reserving: bytes, callback: callback)
    }

    /// The RecordBatch bytes, built (and compressed) once. When the producer identity changed
    /// since (a new producer id after a sequence gap), the header is restamped and its CRC
    /// recomputed; the records are not touched.
    func encode(producerId: Int64, producerEpoch: Int16) throws -> ByteBuffer {
        let identity = baseSequence.map { (producerId, producerEpoch, $0) } ?? (-1, -1, -1)
        if var bytes = encoded {
            if let stamped, stamped == identity { return bytes }
            bytes.setInteger(identity.0, at: bytes.readerIndex + RecordBatchHeader.Offset.producerId)
            bytes.setInteger(identity.1, at: bytes.readerIndex + RecordBatchHeader.Offset.producerEpoch)
            bytes.setInteger(identity.2, at: bytes.readerIndex + RecordBatchHeader.Offset.baseSequence)
            bytes.stampRecordBatchChecksum()
            encoded = bytes
            stamped = identity
            return bytes
        }
        content.builder.producerId = identity.0
        content.builder.producerEpoch = identity.1
        content.builder.baseSequence = identity.2
        let bytes = try content.builder.finish()
        encoded = bytes
        stamped = identity
        return bytes
    }

    func complete(baseOffset: Int64, logAppendTime: Int64) {
        let topic = topicPartition.topic
        let partition = topicPartition.partition
        let timestamps = content.timestamps
        for (index, callback) in content.callbacks.enumerated() {
            guard let callback else { continue }
            callback(.success(RecordMetadata(
                topic: topic, partition: partition,
                offset: baseOffset < 0 ? -1 : baseOffset + Int64(index),
                timestamp: logAppendTime >= 0 ? logAppendTime : timestamps[index])))
        }
    }

    func fail(_ error: any Error) {
        for callback in content.callbacks { callback?(.failure(error)) }
    }
}
