/// How much work one batch may cost: the bound the broker checks when a producer sends a batch
/// and the bound it reads with when it looks inside a stored batch (lookup by timestamp,
/// recompression). Both sides derive it from here, so whatever was accepted can be read back.
///
/// Kafka bounds a batch by its size on the wire (`max.message.bytes`, after compression) and
/// nothing else; a few KiB of zstd can then hold millions of records. The two bounds here keep
/// what a compressed batch may unfold to in proportion: never more records or bytes than an
/// uncompressed batch of `max.message.bytes` could carry, with a floor that every producer's
/// real batches stay under (librdkafka's `batch.num.messages` tops out at 1,000,000).
public struct RecordBatchLimits: Sendable, Hashable {
    /// The smallest record: length, attributes, timestamp delta, offset delta, key length, value
    /// length and header count, one byte each.
    public static let smallestRecordBytes = 7
    /// No topic's bound on the decompressed records section is lower than this.
    public static let minimumDecompressedBytes = 64 * 1024 * 1024
    /// No topic's bound on the records of one batch is lower than this.
    public static let minimumRecordsPerBatch = 1 << 20

    /// What a compressed records section may inflate to.
    public let maxDecompressedBytes: Int
    /// How many records one batch may declare and hold.
    public let maxRecordsPerBatch: Int

    /// The bounds for a topic whose `max.message.bytes` is `maxMessageBytes`.
    public init(maxMessageBytes: Int) {
        let bytes = min(max(maxMessageBytes, 0), Int(Int32.max))
        maxDecompressedBytes = max(bytes, Self.minimumDecompressedBytes)
        maxRecordsPerBatch = max(bytes / Self.smallestRecordBytes, Self.minimumRecordsPerBatch)
    }

    /// Explicit bounds (tests, and work deliberately capped below a topic's bounds).
    public init(maxDecompressedBytes: Int, maxRecordsPerBatch: Int) {
        self.maxDecompressedBytes = max(0, maxDecompressedBytes)
        self.maxRecordsPerBatch = max(0, maxRecordsPerBatch)
    }

    /// The bounds of the largest `max.message.bytes` a topic can have (it is an int32): a reader
    /// that does not know under which topic configuration a stored batch was accepted uses these,
    /// and so reads every batch any configuration let in.
    public static let readable = RecordBatchLimits(maxMessageBytes: Int(Int32.max))

    /// These bounds with the decompressed bytes capped at `bytes` (work small enough to do inline).
    public func capping(decompressedBytes bytes: Int) -> RecordBatchLimits {
        RecordBatchLimits(maxDecompressedBytes: min(maxDecompressedBytes, bytes), maxRecordsPerBatch: maxRecordsPerBatch)
    }
}
