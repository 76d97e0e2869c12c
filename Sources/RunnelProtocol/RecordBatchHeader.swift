import NIOCore
import RunnelCodecs

/// The 61-byte header of a RecordBatch v2 (../shared/kafka-protocol/RECORD-BATCH.md §1).
public struct RecordBatchHeader: Hashable, Sendable {
    /// Byte offsets of the header fields, relative to the start of the batch.
    public enum Offset {
        public static let baseOffset = 0
        public static let batchLength = 8
        public static let partitionLeaderEpoch = 12
        public static let magic = 16
        public static let crc = 17
        public static let attributes = 21
        public static let lastOffsetDelta = 23
        public static let baseTimestamp = 27
        public static let maxTimestamp = 35
        public static let producerId = 43
        public static let producerEpoch = 51
        public static let baseSequence = 53
        public static let recordsCount = 57
        public static let records = 61
    }

    /// Bytes of a batch with no records.
    public static let size = 61
    /// Bytes before `batchLength` starts counting (baseOffset and batchLength themselves).
    public static let logOverhead = 12
    /// The CRC covers from `attributes` to the end of the batch.
    public static let crcCoverageStart = Offset.attributes
    public static let currentMagic: Int8 = 2

    public var baseOffset: Int64
    /// Bytes after the batchLength field; the whole batch is `batchLength + 12` bytes.
    public var batchLength: Int32
    public var partitionLeaderEpoch: Int32
    public var magic: Int8
    public var crc: UInt32
    public var attributes: RecordBatchAttributes
    public var lastOffsetDelta: Int32
    public var baseTimestamp: Int64
    public var maxTimestamp: Int64
    public var producerId: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
    public var recordsCount: Int32

    public var totalSize: Int { Int(batchLength) + Self.logOverhead }
    /// Traps unless `hasValidOffsetRange`: every batch read from a producer or from disk is
    /// checked for it first (`RecordBatch(validating:)`, SegmentScanner).
    public var lastOffset: Int64 { baseOffset + Int64(lastOffsetDelta) }
    /// Whether every offset of the batch, and the one after its last, is a valid offset:
    /// baseOffset lies outside the CRC, so damage on disk can make it anything.
    public var hasValidOffsetRange: Bool {
        baseOffset >= 0 && lastOffsetDelta >= 0 && baseOffset <= Int64.max - 1 - Int64(lastOffsetDelta)
    }
    /// The sequence of the last record (sequences wrap at Int32.max to 0).
    public var lastSequence: Int32 {
        baseSequence < 0 ? -1 : Int32((Int64(baseSequence) + Int64(lastOffsetDelta)) % (Int64(Int32.max) + 1))
    }

    /// Reads the header at `index` without moving the reader index. Only the fixed fields are
    /// read: validation of magic, length and CRC is `RecordBatch.init(validating:)`'s job.
    public init(from buffer: ByteBuffer, at index: Int) throws(RecordBatchError) {
        guard index >= buffer.readerIndex, buffer.writerIndex - index >= Self.size else {
            throw RecordBatchError(.truncated, "a batch header needs \(Self.size) bytes, \(buffer.writerIndex - index) remain")
        }
        func integer<T: FixedWidthInteger>(_ offset: Int, _: T.Type = T.self) -> T {
            buffer.getInteger(at: index + offset, endianness: .big, as: T.self)!
        }
        baseOffset = integer(Offset.baseOffset)
        batchLength = integer(Offset.batchLength)
        partitionLeaderEpoch = integer(Offset.partitionLeaderEpoch)
        magic = integer(Offset.magic)
        crc = integer(Offset.crc)
        attributes = RecordBatchAttributes(rawValue: integer(Offset.attributes))
        lastOffsetDelta = integer(Offset.lastOffsetDelta)
        baseTimestamp = integer(Offset.baseTimestamp)
        maxTimestamp = integer(Offset.maxTimestamp)
        producerId = integer(Offset.producerId)
        producerEpoch = integer(Offset.producerEpoch)
        baseSequence = integer(Offset.baseSequence)
        recordsCount = integer(Offset.recordsCount)
    }
}

/// The attributes field (RECORD-BATCH.md §2).
public struct RecordBatchAttributes: Hashable, Sendable {
    public var rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }

    static let codecMask: Int16 = 0x07
    static let timestampTypeBit: Int16 = 0x08
    static let transactionalBit: Int16 = 0x10
    static let controlBit: Int16 = 0x20
    static let deleteHorizonBit: Int16 = 0x40

    public init(
        compression: CompressionCodec, timestampType: TimestampType = .createTime, isTransactional: Bool = false,
        isControl: Bool = false
    ) {
        rawValue = Int16(compression.rawValue)
        if timestampType == .logAppendTime { rawValue |= Self.timestampTypeBit }
        if isTransactional { rawValue |= Self.transactionalBit }
        if isControl { rawValue |= Self.controlBit }
    }

    /// nil for codec ids 5-7, which no codec uses.
    public var compression: CompressionCodec? { CompressionCodec(rawValue: Int8(rawValue & Self.codecMask)) }
    public var timestampType: TimestampType { rawValue & Self.timestampTypeBit != 0 ? .logAppendTime : .createTime }
    public var isTransactional: Bool { rawValue & Self.transactionalBit != 0 }
    public var isControl: Bool { rawValue & Self.controlBit != 0 }
    public var hasDeleteHorizon: Bool { rawValue & Self.deleteHorizonBit != 0 }
}

/// Whether record timestamps are the producer's (CreateTime) or the broker's (LogAppendTime).
public enum TimestampType: Int8, Sendable {
    case createTime = 0
    case logAppendTime = 1
}
