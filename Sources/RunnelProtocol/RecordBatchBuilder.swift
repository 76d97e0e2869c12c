import NIOCore
import RunnelCodecs

/// Encodes records into one RecordBatch v2, compressed with any codec.
///
/// Offsets are assigned 0, 1, 2... relative to `baseOffset`; timestamps are stored as deltas
/// from the first record's, as Kafka's producers do.
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

    private var section: ByteBuffer
    private var count: Int32 = 0
    private var baseTimestamp: Int64 = -1
    private var maxTimestamp: Int64 = -1

    public init(compression: CompressionCodec = .none, compressionLevel: Int? = nil) {
        self.compression = compression
        self.compressionLevel = compressionLevel
        section = ByteBufferAllocator().buffer(capacity: 1024)
    }

    public var recordCount: Int { Int(count) }

    /// The batch's size before compression: what `batch.size` limits are checked against.
    public var uncompressedSizeInBytes: Int { RecordBatchHeader.size + section.readableBytes }

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

    /// The finished batch: header, records section (compressed as configured) and CRC.
    public func build() throws -> ByteBuffer {
        var records = section
        if compression != .none {
            let compressed = try section.withUnsafeReadableBytes { raw in
                try Compression.compress(raw, codec: compression, level: compressionLevel)
            }
            records = ByteBuffer(bytes: compressed)
        }
        var batch = ByteBufferAllocator().buffer(capacity: RecordBatchHeader.size + records.readableBytes)
        let attributes = RecordBatchAttributes(
            compression: compression, timestampType: timestampType, isTransactional: isTransactional, isControl: isControl)
        batch.writeKafkaInteger(baseOffset)
        batch.writeKafkaInteger(Int32(RecordBatchHeader.size - RecordBatchHeader.logOverhead + records.readableBytes))
        batch.writeKafkaInteger(partitionLeaderEpoch)
        batch.writeKafkaInteger(RecordBatchHeader.currentMagic)
        batch.writeKafkaInteger(UInt32(0))  // CRC, filled in below
        batch.writeKafkaInteger(attributes.rawValue)
        batch.writeKafkaInteger(count == 0 ? Int32(0) : count - 1)
        batch.writeKafkaInteger(baseTimestamp)
        batch.writeKafkaInteger(maxTimestamp)
        batch.writeKafkaInteger(producerId)
        batch.writeKafkaInteger(producerEpoch)
        batch.writeKafkaInteger(baseSequence)
        batch.writeKafkaInteger(count)
        batch.writeImmutableBuffer(records)
        let crc = batch.withUnsafeReadableBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[RecordBatchHeader.crcCoverageStart...]))
        }
        batch.setInteger(crc, at: RecordBatchHeader.Offset.crc, endianness: .big)
        return batch
    }
}
