import NIOCore
import RunnelCodecs
import RunnelProtocol

/// The two topic policies that make a broker rewrite a produced batch, as Kafka does:
/// `compression.type` naming a codec other than the producer's (recompress), and
/// `message.timestamp.type=LogAppendTime` (stamp the append time into the header and CRC).
/// Every other batch is stored exactly as the producer sent it.
enum BatchRewriter {
    /// `compression` is nil for "producer" (keep), or the codec to store with.
    static func applyTopicPolicy(
        to batch: RecordBatch, compression: CompressionCodec??, logAppendTime: Int64?, maxDecompressedBytes: Int
    ) throws -> RecordBatch {
        var result = batch
        if case .some(.some(let codec)) = compression, codec != batch.compression {
            result = try recompress(batch, to: codec, maxDecompressedBytes: maxDecompressedBytes)
        }
        if let logAppendTime { result = try stampLogAppendTime(result, now: logAppendTime) }
        return result
    }

    static func recompress(_ batch: RecordBatch, to codec: CompressionCodec, maxDecompressedBytes: Int) throws -> RecordBatch {
        let header = batch.header
        var builder = RecordBatchBuilder(compression: codec)
        builder.producerId = header.producerId
        builder.producerEpoch = header.producerEpoch
        builder.baseSequence = header.baseSequence
        builder.isTransactional = header.attributes.isTransactional
        builder.isControl = header.attributes.isControl
        for record in try batch.records(maxDecompressedBytes: maxDecompressedBytes) {
            builder.append(key: record.key, value: record.value, headers: record.headers, timestamp: record.timestamp)
        }
        return try RecordBatch(validating: builder.build())
    }

    /// Sets the LogAppendTime bit and maxTimestamp, then the CRC they are covered by.
    static func stampLogAppendTime(_ batch: RecordBatch, now: Int64) throws -> RecordBatch {
        var bytes = ByteBuffer()
        bytes.writeImmutableBuffer(batch.bytes)
        let attributes = batch.header.attributes.rawValue | RecordBatchAttributes(compression: .none, timestampType: .logAppendTime).rawValue
        bytes.setInteger(attributes, at: RecordBatchHeader.Offset.attributes, endianness: .big)
        bytes.setInteger(now, at: RecordBatchHeader.Offset.maxTimestamp, endianness: .big)
        bytes.stampRecordBatchChecksum()
        return try RecordBatch(validating: bytes)
    }
}
