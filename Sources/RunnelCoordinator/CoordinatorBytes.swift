/// Big-endian writing and reading of the coordinator's records (see CoordinatorRecord).
/// Value types, one per record being encoded or decoded.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func write<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// Kafka's `string`: int16 length, UTF-8.
    mutating func writeKafkaString(_ string: String) {
        write(Int16(clamping: string.utf8.count))
        bytes.append(contentsOf: string.utf8.prefix(Int(Int16.max)))
    }

    /// Kafka's nullable `string`: length -1 for null.
    mutating func writeNullableKafkaString(_ string: String?) {
        guard let string else { return write(Int16(-1)) }
        writeKafkaString(string)
    }

    /// Kafka's `bytes`: int32 length.
    mutating func write(_ data: [UInt8]) {
        write(Int32(data.count))
        bytes.append(contentsOf: data)
    }
}

struct ByteReader {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { position == bytes.count }

    mutating func read<T: FixedWidthInteger>() -> T? {
        let size = MemoryLayout<T>.size
        guard bytes.count - position >= size else { return nil }
        var value: T = 0
        for byte in bytes[position..<(position + size)] { value = value << 8 | T(byte) }
        position += size
        return value
    }

    /// Kafka's `bytes` (int32 length).
    mutating func readBytes() -> [UInt8]? {
        guard let length: Int32 = read(), length >= 0, bytes.count - position >= Int(length) else { return nil }
        defer { position += Int(length) }
        return Array(bytes[position..<(position + Int(length))])
    }

    /// A legacy Runnel string (int32 length).
    mutating func readString() -> String? {
        guard let length: Int32 = read() else { return nil }
        return readUTF8(length: Int(length))
    }

    /// Kafka's `string` (int16 length, not null).
    mutating func readKafkaString() -> String? {
        guard let length: Int16 = read() else { return nil }
        return readUTF8(length: Int(length))
    }

    /// Kafka's nullable `string`: nil when unreadable, `.some(nil)` for null.
    mutating func readNullableKafkaString() -> String?? {
        guard let length: Int16 = read() else { return nil }
        if length == -1 { return .some(nil) }
        guard let string = readUTF8(length: Int(length)) else { return nil }
        return .some(string)
    }

    private mutating func readUTF8(length: Int) -> String? {
        guard length >= 0, bytes.count - position >= length else { return nil }
        defer { position += length }
        return String(decoding: bytes[position..<(position + length)], as: UTF8.self)
    }
}
