import NIOCore
import RunnelCodecs
import RunnelProtocol

/// The topic policies that make a broker rewrite a produced batch, as Kafka's LogValidator
/// does: `compression.type` naming a codec other than the producer's (recompress),
/// `message.timestamp.type=LogAppendTime` (stamp the append time into the header), and on a
/// CreateTime topic a header that says LogAppendTime or whose maxTimestamp is not the largest
/// record timestamp (Kafka's `setMaxTimestamp(CREATE_TIME, ...)`: the time index relies on it). Every other batch is stored exactly as the
/// producer sent it.
///
/// Works from a batch that passed `validateRecords`, whose records are therefore well-formed
/// and numbered 0, 1, 2...: recompression copies the records section verbatim into the new
/// codec (the records keep their deltas against the unchanged base offset and base timestamp),
/// so it costs one compression of bytes already in memory and no per-record work.
enum BatchRewriter {
    /// `compression` is nil for "producer" (keep), or the codec to store with.
    static func applyTopicPolicy(
        to batch: RecordBatch, validated: ValidatedRecords, compression: CompressionCodec??, logAppendTime: Int64?
    ) throws -> RecordBatch {
        var recompressTo: CompressionCodec?
        if case .some(.some(let codec)) = compression, codec != batch.compression { recompressTo = codec }
        let header = batch.header
        // On a CreateTime topic the header must say CreateTime and carry the records' largest
        // timestamp: a producer's LogAppendTime bit (with any maxTimestamp it likes) would
        // otherwise be stored and believed by consumers, the time index and retention.
        let wrongHeader = logAppendTime == nil
            && (header.attributes.timestampType != .createTime || header.maxTimestamp != validated.maxTimestamp)
        guard recompressTo != nil || logAppendTime != nil || wrongHeader else { return batch }

        var bytes: ByteBuffer
        if let codec = recompressTo {
            bytes = try recompressed(batch, section: validated.section, to: codec)
        } else {
            bytes = ByteBufferAllocator().buffer(capacity: batch.bytes.readableBytes)
            bytes.writeImmutableBuffer(batch.bytes)
        }
        var attributes = RecordBatchAttributes(rawValue: bytes.getInteger(at: RecordBatchHeader.Offset.attributes, as: Int16.self)!)
        var maxTimestamp = validated.maxTimestamp
        let logAppendTimeBit = RecordBatchAttributes(compression: .none, timestampType: .logAppendTime).rawValue
        if let logAppendTime {
            attributes.rawValue |= logAppendTimeBit
            maxTimestamp = logAppendTime
        } else {
            attributes.rawValue &= ~logAppendTimeBit
        }
        bytes.setInteger(attributes.rawValue, at: RecordBatchHeader.Offset.attributes, endianness: .big)
        bytes.setInteger(maxTimestamp, at: RecordBatchHeader.Offset.maxTimestamp, endianness: .big)
        bytes.stampRecordBatchChecksum()
        return try RecordBatch(validating: bytes)
    }

    /// The batch's header (codec bits and length updated) over `section` compressed with `codec`.
    private static func recompressed(_ batch: RecordBatch, section: ByteBuffer, to codec: CompressionCodec) throws -> ByteBuffer {
        let compressed = try section.withUnsafeReadableBytes { raw in try Compression.compress(raw, codec: codec) }
        let batchLength = RecordBatchHeader.size - RecordBatchHeader.logOverhead + compressed.count
        guard batchLength <= Int(Int32.max) else {
            throw RecordBatchError(.decompressedTooLarge, "recompressed with \(codec) the batch takes \(batchLength) bytes")
        }
        var bytes = ByteBufferAllocator().buffer(capacity: RecordBatchHeader.size + compressed.count)
        bytes.writeImmutableBuffer(batch.bytes.getSlice(at: batch.bytes.readerIndex, length: RecordBatchHeader.size)!)
        bytes.writeBytes(compressed)
        bytes.setInteger(Int32(batchLength), at: RecordBatchHeader.Offset.batchLength, endianness: .big)
        let attributes = batch.header.attributes.rawValue & ~Int16(0x07) | Int16(codec.rawValue)
        bytes.setInteger(attributes, at: RecordBatchHeader.Offset.attributes, endianness: .big)
        return bytes
    }
}
