import NIOCore
import RunnelCodecs

/// The CRC of a RecordBatch v2 held at a buffer's reader index: CRC32C over everything from the
/// attributes to the end. Validation compares it with the stored one; whoever changes a header
/// field it covers (producer id, sequence, timestamps, attributes) stamps it again.
extension ByteBuffer {
    public func recordBatchChecksum() -> UInt32 {
        withUnsafeReadableBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[RecordBatchHeader.crcCoverageStart...]))
        }
    }

    public mutating func stampRecordBatchChecksum() {
        setInteger(recordBatchChecksum(), at: readerIndex + RecordBatchHeader.Offset.crc, endianness: .big)
    }
}
