import NIOCore

/// Bounds-checked readers for Kafka's primitive types (see ../shared/kafka-protocol/RECORD-BATCH.md
/// §5-6). Each consumes what it reads and throws `KafkaDecodingError` instead of trapping; on a
/// throw the reader index is left wherever the failing read started.
extension ByteBuffer {
    @inlinable
    public mutating func readKafkaInteger<T: FixedWidthInteger>(as: T.Type = T.self) throws(KafkaDecodingError) -> T {
        guard let value = readInteger(endianness: .big, as: T.self) else {
            throw KafkaDecodingError(.truncated, "\(T.self) needs \(MemoryLayout<T>.size) bytes, \(readableBytes) remain")
        }
        return value
    }

    public mutating func readKafkaBool() throws(KafkaDecodingError) -> Bool {
        try readKafkaInteger(as: UInt8.self) != 0
    }

    /// UNSIGNED_VARINT: protobuf-style base-128, at most 5 bytes for 32 bits.
    @inlinable
    public mutating func readUnsignedVarint() throws(KafkaDecodingError) -> UInt32 {
        let value = try readRawVarint(maxBytes: 5)
        guard value <= UInt64(UInt32.max) else { throw KafkaDecodingError(.invalidVarint, "unsigned varint overflows 32 bits") }
        return UInt32(value)
    }

    /// VARINT: zigzag-encoded int32, as record fields use.
    @inlinable
    public mutating func readVarint() throws(KafkaDecodingError) -> Int32 {
        let raw = try readRawVarint(maxBytes: 5)
        guard raw <= UInt64(UInt32.max) else { throw KafkaDecodingError(.invalidVarint, "varint overflows 32 bits") }
        let value = UInt32(raw)
        return Int32(bitPattern: (value >> 1) ^ (0 &- (value & 1)))
    }

    /// VARLONG: zigzag-encoded int64.
    @inlinable
    public mutating func readVarlong() throws(KafkaDecodingError) -> Int64 {
        let value = try readRawVarint(maxBytes: 10)
        return Int64(bitPattern: (value >> 1) ^ (0 &- (value & 1)))
    }

    @inlinable
    mutating func readRawVarint(maxBytes: Int) throws(KafkaDecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var index = readerIndex
        let end = readerIndex + Swift.min(maxBytes, readableBytes)
        while index < end {
            let byte = getInteger(at: index, as: UInt8.self)!
            index += 1
            // The tenth byte of a 64-bit varint may only carry the top bit.
            if shift == 63, byte > 1 { throw KafkaDecodingError(.invalidVarint, "varint overflows 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                moveReaderIndex(to: index)
                return result
            }
            shift += 7
        }
        if end - readerIndex == maxBytes {
            throw KafkaDecodingError(.invalidVarint, "varint longer than \(maxBytes) bytes")
        }
        throw KafkaDecodingError(.truncated, "varint cut off after \(end - readerIndex) bytes")
    }

    /// The length prefix of a string, bytes or array: nil for null, else a count known to fit.
    /// Classic fields use int16 (strings) or int32 (bytes, arrays) with -1 for null; compact
    /// fields use an unsigned varint N+1 with 0 for null.
    @inlinable
    mutating func readLength(compact: Bool, wide: Bool) throws(KafkaDecodingError) -> Int? {
        let length: Int
        if compact {
            let encoded = Int(try readUnsignedVarint())
            if encoded == 0 { return nil }
            length = encoded - 1
        } else {
            length = wide ? Int(try readKafkaInteger(as: Int32.self)) : Int(try readKafkaInteger(as: Int16.self))
            if length == -1 { return nil }
            guard length >= 0 else { throw KafkaDecodingError(.invalidLength, "negative length \(length)") }
        }
        guard length <= readableBytes else {
            throw KafkaDecodingError(.invalidLength, "length \(length) exceeds the \(readableBytes) bytes that remain")
        }
        return length
    }

    public mutating func readKafkaNullableString(compact: Bool) throws(KafkaDecodingError) -> String? {
        guard let length = try readLength(compact: compact, wide: false) else { return nil }
        let string = withUnsafeReadableBytes { raw in
            String(validating: UnsafeRawBufferPointer(rebasing: raw[..<length]), as: UTF8.self)
        }
        guard let string else { throw KafkaDecodingError(.invalidUTF8, "string of \(length) bytes is not UTF-8") }
        moveReaderIndex(forwardBy: length)
        return string
    }

    public mutating func readKafkaString(compact: Bool) throws(KafkaDecodingError) -> String {
        guard let string = try readKafkaNullableString(compact: compact) else {
            throw KafkaDecodingError(.unexpectedNull, "null in a non-nullable string")
        }
        return string
    }

    /// Nullable bytes as a slice of this buffer (no copy).
    public mutating func readKafkaNullableBytes(compact: Bool) throws(KafkaDecodingError) -> ByteBuffer? {
        guard let length = try readLength(compact: compact, wide: true) else { return nil }
        return readSlice(length: length)!
    }

    public mutating func readKafkaBytes(compact: Bool) throws(KafkaDecodingError) -> ByteBuffer {
        guard let bytes = try readKafkaNullableBytes(compact: compact) else {
            throw KafkaDecodingError(.unexpectedNull, "null in non-nullable bytes")
        }
        return bytes
    }

    /// An array's element count, nil for a null array. Every element takes at least one byte on
    /// the wire, so a count larger than what remains is rejected before anything is allocated.
    public mutating func readKafkaArrayCount(compact: Bool) throws(KafkaDecodingError) -> Int? {
        try readLength(compact: compact, wide: true)
    }

    public mutating func readKafkaUUID() throws(KafkaDecodingError) -> KafkaUUID {
        let high = try readKafkaInteger(as: UInt64.self)
        let low = try readKafkaInteger(as: UInt64.self)
        return KafkaUUID(high: high, low: low)
    }

    /// A tagged-field section (KIP-482): count, then (tag, size, bytes) with ascending tags.
    /// Returns the fields as slices; callers pick the tags they know and ignore the rest.
    public mutating func readTaggedFields() throws(KafkaDecodingError) -> [TaggedField] {
        let count = Int(try readUnsignedVarint())
        if count == 0 { return [] }
        guard count <= readableBytes else { throw KafkaDecodingError(.invalidLength, "\(count) tagged fields exceed the input") }
        var fields: [TaggedField] = []
        fields.reserveCapacity(count)
        var previousTag: UInt32?
        for _ in 0..<count {
            let tag = try readUnsignedVarint()
            if let previousTag, tag <= previousTag {
                throw KafkaDecodingError(.invalidValue, "tagged field \(tag) after \(previousTag): tags must ascend")
            }
            previousTag = tag
            let size = Int(try readUnsignedVarint())
            guard let data = readSlice(length: size) else {
                throw KafkaDecodingError(.invalidLength, "tagged field \(tag) of \(size) bytes exceeds the input")
            }
            fields.append(TaggedField(tag: tag, data: data))
        }
        return fields
    }
}

/// One field of a tagged-field section, still encoded.
public struct TaggedField: Hashable, Sendable {
    public var tag: UInt32
    public var data: ByteBuffer

    public init(tag: UInt32, data: ByteBuffer) {
        self.tag = tag
        self.data = data
    }
}
