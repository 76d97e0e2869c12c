import NIOCore

/// Splits a record set (the `records` bytes of Produce and Fetch: zero or more whole batches,
/// possibly ending with a partial one that a fetch cut short) into its batches.
public struct RecordSet: Sequence, Sendable {
    public var bytes: ByteBuffer

    public init(_ bytes: ByteBuffer) {
        self.bytes = bytes
    }

    /// Each element is the slice of one batch as its header declares it, not yet validated.
    /// Iteration stops at the first batch whose declared length runs past the end (a partial
    /// tail) or is shorter than a header; `trailingBytes` tells how many bytes were left over.
    public struct Iterator: IteratorProtocol {
        var remaining: ByteBuffer

        public mutating func next() -> ByteBuffer? {
            guard remaining.readableBytes >= RecordBatchHeader.logOverhead,
                  let length = remaining.getInteger(
                    at: remaining.readerIndex + RecordBatchHeader.Offset.batchLength, endianness: .big, as: Int32.self),
                  Int(length) + RecordBatchHeader.logOverhead >= RecordBatchHeader.size,
                  Int(length) + RecordBatchHeader.logOverhead <= remaining.readableBytes
            else { return nil }
            return remaining.readSlice(length: Int(length) + RecordBatchHeader.logOverhead)
        }

        /// Bytes not yet returned: after iteration, the partial or malformed tail.
        public var trailingBytes: Int { remaining.readableBytes }
    }

    public func makeIterator() -> Iterator { Iterator(remaining: bytes) }
}
