import NIOCore

/// One record of a batch, with its absolute offset and timestamp (RECORD-BATCH.md §4).
public struct Record: Hashable, Sendable {
    public var offset: Int64
    public var timestamp: Int64
    /// nil is a null key; an empty buffer is an empty key.
    public var key: ByteBuffer?
    /// nil is a null value (a tombstone).
    public var value: ByteBuffer?
    public var headers: [RecordHeader]

    public init(offset: Int64, timestamp: Int64, key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader] = []) {
        self.offset = offset
        self.timestamp = timestamp
        self.key = key
        self.value = value
        self.headers = headers
    }
}

/// A record header: a UTF-8 key (never null) and a nullable value; order is kept.
public struct RecordHeader: Hashable, Sendable {
    public var key: String
    public var value: ByteBuffer?

    public init(key: String, value: ByteBuffer?) {
        self.key = key
        self.value = value
    }
}

/// The encoding of one record inside a batch's records section.
enum RecordCodec {
    /// Reads one record, checking that it consumes exactly the length it declares.
    static func read(from section: inout ByteBuffer, header: RecordBatchHeader) throws(RecordBatchError) -> Record {
        do {
            let length = Int(try section.readVarint())
            guard length >= 0, var body = section.readSlice(length: length) else {
                throw RecordBatchError(.malformedRecord, "record length \(length) exceeds the \(section.readableBytes) bytes that remain")
            }
            _ = try body.readKafkaInteger(as: Int8.self)  // attributes, unused
            let timestampDelta = try body.readVarlong()
            let offsetDelta = try body.readVarint()
            let key = try readVarintBytes(from: &body)
            let value = try readVarintBytes(from: &body)
            let headerCount = Int(try body.readVarint())
            guard headerCount >= 0, headerCount <= body.readableBytes else {
                throw RecordBatchError(.malformedRecord, "header count \(headerCount) is invalid")
            }
            var headers: [RecordHeader] = []
            headers.reserveCapacity(headerCount)
            for _ in 0..<headerCount {
                guard var keyBytes = try readVarintBytes(from: &body) else {
                    throw RecordBatchError(.malformedRecord, "null header key")
                }
                guard let key = keyBytes.readString(length: keyBytes.readableBytes) else {
                    throw RecordBatchError(.malformedRecord, "header key is not a string")
                }
                headers.append(RecordHeader(key: key, value: try readVarintBytes(from: &body)))
            }
            guard body.readableBytes == 0 else {
                throw RecordBatchError(.malformedRecord, "\(body.readableBytes) bytes trail a record of declared length \(length)")
            }
            let timestamp = header.attributes.timestampType == .logAppendTime
                ? header.maxTimestamp : header.baseTimestamp &+ timestampDelta
            return Record(
                offset: header.baseOffset &+ Int64(offsetDelta), timestamp: timestamp, key: key, value: value, headers: headers)
        } catch let error as KafkaDecodingError {
            throw RecordBatchError(.malformedRecord, error.description)
        } catch let error as RecordBatchError {
            throw error
        } catch {
            throw RecordBatchError(.malformedRecord, "\(error)")
        }
    }

    /// Varint-length-prefixed bytes; length -1 is null.
    private static func readVarintBytes(from body: inout ByteBuffer) throws -> ByteBuffer? {
        let length = Int(try body.readVarint())
        if length == -1 { return nil }
        guard length >= 0, let bytes = body.readSlice(length: length) else {
            throw RecordBatchError(.malformedRecord, "field length \(length) exceeds the \(body.readableBytes) bytes that remain")
        }
        return bytes
    }

    /// Writes one record with its deltas relative to the batch's base offset and timestamp.
    static func write(
        offsetDelta: Int32, timestampDelta: Int64, key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader],
        to section: inout ByteBuffer
    ) {
        var bodySize = 1 + VarintSize.zigzag(timestampDelta) + VarintSize.zigzag(offsetDelta)
        bodySize += sizeOfVarintBytes(key) + sizeOfVarintBytes(value) + VarintSize.zigzag(Int32(headers.count))
        for header in headers {
            let keyLength = header.key.utf8.count
            bodySize += VarintSize.zigzag(Int32(keyLength)) + keyLength + sizeOfVarintBytes(header.value)
        }
        section.writeVarint(Int32(bodySize))
        section.writeInteger(Int8(0))
        section.writeVarlong(timestampDelta)
        section.writeVarint(offsetDelta)
        writeVarintBytes(key, to: &section)
        writeVarintBytes(value, to: &section)
        section.writeVarint(Int32(headers.count))
        for header in headers {
            section.writeVarint(Int32(header.key.utf8.count))
            section.writeString(header.key)
            writeVarintBytes(header.value, to: &section)
        }
    }

    private static func sizeOfVarintBytes(_ bytes: ByteBuffer?) -> Int {
        guard let bytes else { return 1 }
        return VarintSize.zigzag(Int32(bytes.readableBytes)) + bytes.readableBytes
    }

    private static func writeVarintBytes(_ bytes: ByteBuffer?, to section: inout ByteBuffer) {
        guard let bytes else { return section.writeVarint(-1) }
        section.writeVarint(Int32(bytes.readableBytes))
        section.writeImmutableBuffer(bytes)
    }
}
