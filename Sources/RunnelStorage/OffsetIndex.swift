import NIOCore

/// An entry of a segment's `.index` file: a batch's base offset, relative to the segment's
/// base offset, and the batch's byte position in the `.log` file. Both are big-endian u32, as
/// in Kafka's OffsetIndex; segments roll before either could overflow.
struct OffsetIndexEntry: SparseIndexEntry {
    static let size = 8
    var relativeOffset: UInt32
    var position: UInt32

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(relativeOffset, endianness: .big)
        buffer.writeInteger(position, endianness: .big)
    }

    init(relativeOffset: UInt32, position: UInt32) {
        self.relativeOffset = relativeOffset
        self.position = position
    }

    init(reading buffer: inout ByteBuffer) throws(StorageError) {
        guard let offset = buffer.readInteger(endianness: .big, as: UInt32.self),
              let position = buffer.readInteger(endianness: .big, as: UInt32.self)
        else { throw StorageError(.corruptFile, "truncated offset index entry") }
        self.init(relativeOffset: offset, position: position)
    }

    /// Positions increase with offsets, so ordering by offset alone is enough.
    var orderingKey: Int64 { Int64(relativeOffset) }
}

/// An entry of a segment's `.timeindex` file: the largest timestamp seen in the segment so far
/// (big-endian i64) and the relative base offset (u32) of the batch that first reached it.
///
/// Every batch before that one holds only smaller timestamps, which is what makes "first
/// offset at or after T" searchable although timestamps are not monotonic.
struct TimeIndexEntry: SparseIndexEntry {
    static let size = 12
    var timestamp: Int64
    var relativeOffset: UInt32

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(timestamp, endianness: .big)
        buffer.writeInteger(relativeOffset, endianness: .big)
    }

    init(timestamp: Int64, relativeOffset: UInt32) {
        self.timestamp = timestamp
        self.relativeOffset = relativeOffset
    }

    init(reading buffer: inout ByteBuffer) throws(StorageError) {
        guard let timestamp = buffer.readInteger(endianness: .big, as: Int64.self),
              let offset = buffer.readInteger(endianness: .big, as: UInt32.self)
        else { throw StorageError(.corruptFile, "truncated time index entry") }
        self.init(timestamp: timestamp, relativeOffset: offset)
    }

    var orderingKey: Int64 { timestamp }
}

typealias OffsetIndex = SparseIndex<OffsetIndexEntry>
typealias TimeIndex = SparseIndex<TimeIndexEntry>
