/// What the walker reports of one record: the fields the callers act on, the rest only checked,
/// and where its parts lie in the section (the log cleaner copies or splices records by them).
struct WalkedRecord {
    var timestampDelta: Int64
    var offsetDelta: Int32
    /// The record's bytes, from its length varint to its last header.
    var range: Range<Int>
    /// Where the offset delta starts: everything from here on is kept as is when the cleaner
    /// rewrites a record's timestamp delta.
    var offsetDeltaStart: Int
    /// The key's bytes; nil for a null key.
    var key: Range<Int>?
    var valueIsNull: Bool
}

/// Walks the records of a (decompressed) records section in place, checking every record the
/// way Kafka's `DefaultRecord.readFrom` does, without allocating: a produced batch is checked
/// on the produce path, which must stay as cheap as a scan over its bytes.
///
/// Per record (RECORD-BATCH.md §4): a length varint that fits in what remains; then, inside that
/// length, attributes, timestamp delta (varlong), offset delta (varint), key and value (length
/// -1 for null, never below -1, never past the record), a header count that is not negative
/// and not larger than the bytes left, each header's key (never null) and value; and the fields
/// must end exactly where the length said. Varints longer than their type are refused.
///
/// A value type over memory it does not own: use it only inside the closure that lent `bytes`.
struct RecordSectionWalker {
    let bytes: UnsafeRawBufferPointer
    /// Where the next record starts.
    private(set) var position = 0
    /// How many records have been walked.
    private(set) var index = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    var isAtEnd: Bool { position >= bytes.count }

    /// The next record, checked; nil when no bytes remain.
    mutating func next() throws(RecordBatchError) -> WalkedRecord? {
        guard position < bytes.count else { return nil }
        var cursor = position
        guard let length = Self.varint(bytes, &cursor, limit: bytes.count) else {
            throw malformed("record length is not a valid varint")
        }
        guard length >= 0, Int(length) <= bytes.count - cursor else {
            throw malformed("record length \(length) does not fit in the \(bytes.count - cursor) bytes that remain")
        }
        let end = cursor + Int(length)
        guard cursor < end else { throw malformed("empty record") }
        cursor += 1  // attributes: no record-level attribute is defined in v2
        guard let timestampDelta = Self.varlong(bytes, &cursor, limit: end) else {
            throw malformed("timestamp delta is not a valid varlong inside the record's \(length) bytes")
        }
        let offsetDeltaStart = cursor
        guard let offsetDelta = Self.varint(bytes, &cursor, limit: end) else {
            throw malformed("offset delta is not a valid varint inside the record's \(length) bytes")
        }
        let key = try skipNullableBytes(&cursor, end: end, field: "key")
        let value = try skipNullableBytes(&cursor, end: end, field: "value")
        guard let headerCount = Self.varint(bytes, &cursor, limit: end) else {
            throw malformed("header count is not a valid varint inside the record's \(length) bytes")
        }
        // Each header takes at least two bytes: a count larger than the bytes left is a lie.
        guard headerCount >= 0, Int(headerCount) <= end - cursor else {
            throw malformed("header count \(headerCount) is invalid with \(end - cursor) bytes left in the record")
        }
        for header in 0..<Int(headerCount) {
            guard let keyLength = Self.varint(bytes, &cursor, limit: end), keyLength >= 0, Int(keyLength) <= end - cursor else {
                throw malformed("header \(header) has a null, negative or overlong key")
            }
            cursor += Int(keyLength)
            try skipNullableBytes(&cursor, end: end, field: "header \(header) value")
        }
        guard cursor == end else {
            throw malformed("\(end - cursor) bytes trail the fields of a record of declared length \(length)")
        }
        let start = position
        position = end
        index += 1
        return WalkedRecord(
            timestampDelta: timestampDelta, offsetDelta: offsetDelta, range: start..<end, offsetDeltaStart: offsetDeltaStart, key: key,
            valueIsNull: value == nil)
    }

    /// The error for the record being walked.
    func malformed(_ detail: String) -> RecordBatchError {
        RecordBatchError(.malformedRecord, detail, recordIndex: index)
    }

    /// Skips varint-length-prefixed bytes: length -1 is null (nil), any other negative is
    /// invalid; returns where the bytes lie. `field` is only built for an error, so the hot path
    /// formats no strings.
    @inline(__always)
    @discardableResult
    private func skipNullableBytes(_ cursor: inout Int, end: Int, field: @autoclosure () -> String) throws(RecordBatchError) -> Range<Int>? {
        guard let length = Self.varint(bytes, &cursor, limit: end) else {
            throw malformed("\(field()) length is not a valid varint")
        }
        if length == -1 { return nil }
        guard length >= 0, Int(length) <= end - cursor else {
            throw malformed("\(field()) length \(length) does not fit in the \(end - cursor) bytes left in the record")
        }
        let start = cursor
        cursor += Int(length)
        return start..<cursor
    }

    // MARK: Varints over raw bytes

    /// A zigzag varint of at most 5 bytes whose value fits in 32 bits; nil if not.
    @inline(__always)
    static func varint(_ bytes: UnsafeRawBufferPointer, _ cursor: inout Int, limit: Int) -> Int32? {
        // One byte is by far the common case (lengths < 64, deltas < 64).
        if cursor < limit {
            let first = bytes[cursor]
            if first & 0x80 == 0 {
                cursor += 1
                return Int32(first >> 1) ^ (0 &- Int32(first & 1))
            }
        }
        guard let raw = rawVarint(bytes, &cursor, limit: limit, maxBytes: 5), raw <= UInt64(UInt32.max) else { return nil }
        let value = UInt32(truncatingIfNeeded: raw)
        return Int32(bitPattern: (value >> 1) ^ (0 &- (value & 1)))
    }

    /// A zigzag varlong of at most 10 bytes whose value fits in 64 bits; nil if not.
    @inline(__always)
    static func varlong(_ bytes: UnsafeRawBufferPointer, _ cursor: inout Int, limit: Int) -> Int64? {
        if cursor < limit {
            let first = bytes[cursor]
            if first & 0x80 == 0 {
                cursor += 1
                return Int64(first >> 1) ^ (0 &- Int64(first & 1))
            }
        }
        guard let value = rawVarint(bytes, &cursor, limit: limit, maxBytes: 10) else { return nil }
        return Int64(bitPattern: (value >> 1) ^ (0 &- (value & 1)))
    }

    private static func rawVarint(_ bytes: UnsafeRawBufferPointer, _ cursor: inout Int, limit: Int, maxBytes: Int) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var index = cursor
        let stop = min(limit, cursor + maxBytes)
        while index < stop {
            let byte = bytes[index]
            index += 1
            // The tenth byte of a 64-bit varint may only carry the top bit.
            if shift == 63, byte > 1 { return nil }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                cursor = index
                return result
            }
            shift += 7
        }
        return nil
    }
}
