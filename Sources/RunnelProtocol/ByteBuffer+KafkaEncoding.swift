import NIOCore

/// Writers for Kafka's primitive types, the mirror of `ByteBuffer+KafkaDecoding`.
extension ByteBuffer {
    @inlinable
    @discardableResult
    public mutating func writeKafkaInteger<T: FixedWidthInteger>(_ value: T) -> Int {
        writeInteger(value, endianness: .big)
    }

    public mutating func writeKafkaBool(_ value: Bool) {
        writeInteger(UInt8(value ? 1 : 0))
    }

    @inlinable
    public mutating func writeUnsignedVarint(_ value: UInt32) {
        writeRawVarint(UInt64(value))
    }

    @inlinable
    public mutating func writeVarint(_ value: Int32) {
        writeRawVarint(UInt64(UInt32(bitPattern: (value << 1) ^ (value >> 31))))
    }

    @inlinable
    public mutating func writeVarlong(_ value: Int64) {
        writeRawVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    @inlinable
    mutating func writeRawVarint(_ value: UInt64) {
        var remaining = value
        while remaining >= 0x80 {
            writeInteger(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        writeInteger(UInt8(remaining))
    }

    /// Writes a length prefix; nil writes the null marker.
    @inlinable
    mutating func writeLength(_ length: Int?, compact: Bool, wide: Bool) {
        if compact {
            writeUnsignedVarint(length.map { UInt32($0 + 1) } ?? 0)
        } else if wide {
            writeKafkaInteger(Int32(length ?? -1))
        } else {
            writeKafkaInteger(Int16(length ?? -1))
        }
    }

    public mutating func writeKafkaNullableString(_ value: String?, compact: Bool) {
        guard let value else { return writeLength(nil, compact: compact, wide: false) }
        writeLength(value.utf8.count, compact: compact, wide: false)
        writeString(value)
    }

    public mutating func writeKafkaString(_ value: String, compact: Bool) {
        writeKafkaNullableString(value, compact: compact)
    }

    public mutating func writeKafkaNullableBytes(_ value: ByteBuffer?, compact: Bool) {
        guard let value else { return writeLength(nil, compact: compact, wide: true) }
        writeLength(value.readableBytes, compact: compact, wide: true)
        writeImmutableBuffer(value)
    }

    public mutating func writeKafkaBytes(_ value: ByteBuffer, compact: Bool) {
        writeKafkaNullableBytes(value, compact: compact)
    }

    /// An array's count prefix; nil writes a null array.
    public mutating func writeKafkaArrayCount(_ count: Int?, compact: Bool) {
        writeLength(count, compact: compact, wide: true)
    }

    public mutating func writeKafkaUUID(_ value: KafkaUUID) {
        writeKafkaInteger(value.high)
        writeKafkaInteger(value.low)
    }

    /// A tagged-field section. Fields must be sorted by tag; an empty section is one zero byte.
    public mutating func writeTaggedFields(_ fields: [TaggedField]) {
        writeUnsignedVarint(UInt32(fields.count))
        for field in fields {
            writeUnsignedVarint(field.tag)
            writeUnsignedVarint(UInt32(field.data.readableBytes))
            writeImmutableBuffer(field.data)
        }
    }
}

/// Encoded sizes, for writing a length before the bytes it counts.
public enum VarintSize {
    @inlinable
    public static func unsigned(_ value: UInt64) -> Int {
        value == 0 ? 1 : (64 - value.leadingZeroBitCount + 6) / 7
    }

    @inlinable
    public static func zigzag(_ value: Int32) -> Int {
        unsigned(UInt64(UInt32(bitPattern: (value << 1) ^ (value >> 31))))
    }

    @inlinable
    public static func zigzag(_ value: Int64) -> Int {
        unsigned(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }
}
