import NIOCore
import RunnelCodecs

/// Encodes records into one RecordBatch v2, compressed with any codec.
///
/// Offsets are assigned 0, 1, 2... relative to `baseOffset`; timestamps are stored as deltas
/// from the first record's, as Kafka's producers do. Records are written after room left for the
/// batch header, so an uncompressed batch is finished in place (`finish`) without copying its
/// records again.
public struct RecordBatchBuilder: Sendable {
    public var baseOffset: Int64 = 0
    public var partitionLeaderEpoch: Int32 = -1
    public var compression: CompressionCodec
    /// nil uses the codec's Kafka default level.
    public var compressionLevel: Int?
    public var timestampType: TimestampType = .createTime
    public var producerId: Int64 = -1
    public var producerEpoch: Int16 = -1
    public var baseSequence: Int32 = -1
    public var isTransactional = false
    public var isControl = false

    /// The header's room (zeros until `finish`), then the records.
    private var section: ByteBuffer
    private var count: Int32 = 0
    private var baseTimestamp: Int64 = -1
    private var maxTimestamp: Int64 = -1

    /// `capacity` is how many bytes the batch is expected to reach (a producer's batch.size), so
    /// that the records are not copied each time the buffer grows.
    public init(compression: CompressionCodec = .none, compressionLevel: Int? = nil, capacity: Int = 1024) {
        self.compression = compression
        self.compressionLevel = compressionLevel
        section = ByteBufferAllocator().buffer(capacity: max(capacity, RecordBatchHeader.size + 64))
        section.writeRepeatingByte(0, count: RecordBatchHeader.size)
    }

    public var recordCount: Int { Int(count) }

    /// The batch's size before compression: what `batch.size` limits are checked against.
    public var uncompressedSizeInBytes: Int { section.readableBytes }

    public mutating func append(key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader] = [], timestamp: Int64) {
        if count == 0 {
            baseTimestamp = timestamp
            maxTimestamp = timestamp
        }
        maxTimestamp = max(maxTimestamp, timestamp)
        RecordCodec.write(
            offsetDelta: count, timestampDelta: timestamp &- baseTimestamp, key: key, value: value, headers: headers,
            to: &section)
        count += 1
    }

    public mutating func append(key: [UInt8]?, value: [UInt8]?, headers: [RecordHeader] = [], timestamp: Int64) {
        append(key: key.map { ByteBuffer(bytes: $0) }, value: value.map { ByteBuffer(bytes: $0) }, headers: headers, timestamp: timestamp)
    }

    /// The finished batch: header, records section (compressed as configured) and CRC. The
    /// builder stays as it was; `finish` is the cheaper way when it is not needed afterwards.
    public func build() throws -> ByteBuffer {
        var copy = self
        return try copy.finish()
    }

    /// The finished batch, written in place over this builder's buffer when uncompressed. The
    /// builder must not be used afterwards.
    public mutating func finish() throws -> ByteBuffer {
        var batch: ByteBuffer
        if compression == .none {
            batch = section
            section = ByteBuffer()
        } else {
            let records = section.getSlice(at: section.readerIndex + RecordBatchHeader.size, length: section.readableBytes - RecordBatchHeader.size)!
            let compressed = try records.withUnsafeReadableBytes { raw in
                try Compression.compress(raw, codec: compression, level: compressionLevel)
            }
            batch = ByteBufferAllocator().buffer(capacity: RecordBatchHeader.size + compressed.count)
            batch.writeRepeatingByte(0, count: RecordBatchHeader.size)
            batch.writeBytes(compressed)
        }
        let attributes = RecordBatchAttributes(
            compression: compression, timestampType: timestampType, isTransactional: isTransactional, isControl: isControl)
        var header = ByteBufferAllocator().buffer(capacity: RecordBatchHeader.size)
        header.writeKafkaInteger(baseOffset)
        header.writeKafkaInteger(Int32(batch.readableBytes - RecordBatchHeader.logOverhead))
        header.writeKafkaInteger(partitionLeaderEpoch)
        header.writeKafkaInteger(RecordBatchHeader.currentMagic)
        header.writeKafkaInteger(UInt32(0))  // CRC, filled in below
        header.writeKafkaInteger(attributes.rawValue)
        header.writeKafkaInteger(count == 0 ? Int32(0) : count - 1)
        header.writeKafkaInteger(baseTimestamp)
        header.writeKafkaInteger(maxTimestamp)
        header.writeKafkaInteger(producerId)
        header.writeKafkaInteger(producerEpoch)
        header.writeKafkaInteger(baseSequence)
        header.writeKafkaInteger(count)
        batch.setBuffer(header, at: batch.readerIndex)
        batch.stampRecordBatchChecksum()
        return batch
    }
}
