import NIOCore
import RunnelCodecs

/// One RecordBatch v2 whose structure and CRC have been checked.
///
/// The bytes stay exactly as received: records are decoded (and decompressed) only when asked
/// for, and the broker's stamps (base offset, partition leader epoch) lie outside the CRC, so
/// setting them never recomputes it.
public struct RecordBatch: Sendable {
    /// Exactly the batch's bytes, from baseOffset to its last byte.
    public private(set) var bytes: ByteBuffer
    public private(set) var header: RecordBatchHeader

    /// Default cap on what a compressed records section may inflate to: the floor of every
    /// topic's bound (`RecordBatchLimits`); the broker passes the bound of the topic or
    /// `RecordBatchLimits.readable` where it reads what it stored.
    public static let defaultMaxDecompressedBytes = RecordBatchLimits.minimumDecompressedBytes

    /// Checks `bytes` as one complete batch: length, magic, CRC, offset range, codec and record
    /// count.
    public init(validating bytes: ByteBuffer) throws(RecordBatchError) {
        let header = try RecordBatchHeader(from: bytes, at: bytes.readerIndex)
        guard header.totalSize >= RecordBatchHeader.size else {
            throw RecordBatchError(.invalidBatchLength, "batchLength \(header.batchLength) is shorter than a header")
        }
        guard header.totalSize == bytes.readableBytes else {
            let code: RecordBatchError.Code = header.totalSize > bytes.readableBytes ? .truncated : .invalidBatchLength
            throw RecordBatchError(code, "batchLength says \(header.totalSize) bytes, \(bytes.readableBytes) were given")
        }
        guard header.magic == RecordBatchHeader.currentMagic else {
            throw RecordBatchError(.unsupportedMagic, "magic \(header.magic); only RecordBatch v2 is supported")
        }
        let computed = bytes.recordBatchChecksum()
        guard computed == header.crc else {
            throw RecordBatchError(.crcMismatch, "stored CRC \(header.crc), computed \(computed)")
        }
        // Every offset the batch covers, and the one after it, must be a valid offset: the
        // rest of the code computes `lastOffset + 1` without checking.
        guard header.hasValidOffsetRange else {
            throw RecordBatchError(
                .invalidOffsetRange, "baseOffset \(header.baseOffset) with lastOffsetDelta \(header.lastOffsetDelta) is out of range")
        }
        guard let codec = header.attributes.compression else {
            throw RecordBatchError(.unknownCompressionCodec, "compression id \(header.attributes.rawValue & 0x07)")
        }
        guard header.recordsCount >= 0 else {
            throw RecordBatchError(.invalidRecordCount, "negative recordsCount \(header.recordsCount)")
        }
        // An uncompressed record takes at least 7 bytes; more records than that cannot be present.
        if codec == .none, Int(header.recordsCount) * RecordBatchLimits.smallestRecordBytes > header.totalSize - RecordBatchHeader.size {
            throw RecordBatchError(.invalidRecordCount, "\(header.recordsCount) records cannot fit in \(header.totalSize) bytes")
        }
        self.bytes = bytes
        self.header = header
    }

    public var compression: CompressionCodec { header.attributes.compression ?? .none }

    /// Stamps the base offset the log assigned. Outside the CRC: nothing else changes.
    public mutating func setBaseOffset(_ offset: Int64) {
        bytes.setInteger(offset, at: bytes.readerIndex + RecordBatchHeader.Offset.baseOffset, endianness: .big)
        header.baseOffset = offset
    }

    /// Stamps the leader epoch of the append. Outside the CRC: nothing else changes.
    public mutating func setPartitionLeaderEpoch(_ epoch: Int32) {
        bytes.setInteger(epoch, at: bytes.readerIndex + RecordBatchHeader.Offset.partitionLeaderEpoch, endianness: .big)
        header.partitionLeaderEpoch = epoch
    }

    /// The records section, decompressed if needed, refusing to inflate past `maxDecompressedBytes`.
    public func recordsSection(maxDecompressedBytes: Int = defaultMaxDecompressedBytes) throws(RecordBatchError) -> ByteBuffer {
        let section = bytes.getSlice(
            at: bytes.readerIndex + RecordBatchHeader.size, length: header.totalSize - RecordBatchHeader.size)!
        guard compression != .none else { return section }
        do {
            let inflated = try section.withUnsafeReadableBytes { raw in
                try Compression.decompress(raw, codec: compression, maxOutputBytes: maxDecompressedBytes)
            }
            return ByteBuffer(bytes: inflated)
        } catch let error as CompressionError where error.code == .outputLimitExceeded {
            throw RecordBatchError(.decompressedTooLarge, error.description)
        } catch {
            throw RecordBatchError(.decompressionFailed, "\(error)")
        }
    }

    /// Decodes every record. The section must hold exactly `recordsCount` records.
    public func records(maxDecompressedBytes: Int = defaultMaxDecompressedBytes) throws(RecordBatchError) -> [Record] {
        var section = try recordsSection(maxDecompressedBytes: maxDecompressedBytes)
        let count = Int(header.recordsCount)
        // Each record takes at least 7 bytes, whatever the compression claimed.
        guard count <= section.readableBytes / 7 + 1 else {
            throw RecordBatchError(.invalidRecordCount, "\(count) records cannot fit in \(section.readableBytes) bytes")
        }
        var records: [Record] = []
        records.reserveCapacity(count)
        for _ in 0..<count {
            records.append(try RecordCodec.read(from: &section, header: header))
        }
        guard section.readableBytes == 0 else {
            throw RecordBatchError(.invalidRecordCount, "\(section.readableBytes) bytes follow the last of \(count) records")
        }
        return records
    }
}
