/// Why a RecordBatch was rejected. The broker maps each code to a Kafka error code.
public struct RecordBatchError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// Fewer bytes than the header or the declared batch length.
        public static let truncated = Code("truncated")
        /// batchLength is smaller than a header or does not match the bytes given.
        public static let invalidBatchLength = Code("invalidBatchLength")
        /// Not magic 2; older message formats are not accepted.
        public static let unsupportedMagic = Code("unsupportedMagic")
        /// The stored CRC-32C does not match the bytes it covers.
        public static let crcMismatch = Code("crcMismatch")
        /// Compression bits 5-7, which no codec uses.
        public static let unknownCompressionCodec = Code("unknownCompressionCodec")
        /// baseOffset is negative, lastOffsetDelta is negative, or the batch's last offset + 1
        /// does not fit in 64 bits (baseOffset is outside the CRC: damage on disk can reach it).
        public static let invalidOffsetRange = Code("invalidOffsetRange")
        /// recordsCount disagrees with lastOffsetDelta or with the records present.
        public static let invalidRecordCount = Code("invalidRecordCount")
        /// A record inside the batch does not parse, or bytes trail the last record.
        public static let malformedRecord = Code("malformedRecord")
        /// A record's offsetDelta is not its position in the batch (a producer's batch numbers
        /// its records 0, 1, 2...).
        public static let invalidOffsetDelta = Code("invalidOffsetDelta")
        /// A record's timestamp (baseTimestamp + timestampDelta) does not fit in 64 bits.
        public static let invalidTimestamp = Code("invalidTimestamp")
        /// The records section does not decompress (corrupt stream).
        public static let decompressionFailed = Code("decompressionFailed")
        /// The records section inflates past the configured maximum.
        public static let decompressedTooLarge = Code("decompressedTooLarge")
        /// More records than `RecordBatchLimits.maxRecordsPerBatch`.
        public static let tooManyRecords = Code("tooManyRecords")
        /// A client sent a control batch (only the broker writes transaction markers).
        public static let controlBatchFromClient = Code("controlBatchFromClient")
        /// The producer id, epoch, sequence and transactional bit do not go together.
        public static let invalidProducerFields = Code("invalidProducerFields")
        /// A record without a key sent to a compacted topic, whose cleaner keeps records by key.
        public static let missingKey = Code("missingKey")
    }

    public let code: Code
    public let detail: String
    /// The position in its batch of the record at fault, when one record is (Produce v8+
    /// reports it as `record_errors.batch_index`).
    public var recordIndex: Int? { recordIndexes.first }
    /// Every record at fault, in order, where the check goes on past the first (keyless records
    /// on a compacted topic: Kafka lists each, and librdkafka fails exactly those).
    public let recordIndexes: [Int]

    public init(_ code: Code, _ detail: String, recordIndex: Int? = nil) {
        self.init(code, detail, recordIndexes: recordIndex.map { [$0] } ?? [])
    }

    public init(_ code: Code, _ detail: String, recordIndexes: [Int]) {
        self.code = code
        self.detail = detail
        self.recordIndexes = recordIndexes
    }

    public var description: String {
        guard let recordIndex else { return "\(code): \(detail)" }
        return "\(code): record \(recordIndex): \(detail)"
    }

    /// The Kafka error code a broker answers a produced batch with.
    ///
    /// A batch that passed its CRC arrived as the producer built it, so resending cannot fix
    /// what is wrong inside it: those get the non-retriable INVALID_RECORD (as Kafka's
    /// `InvalidRecordException` from DefaultRecord and LogValidator does), never the retriable
    /// CORRUPT_MESSAGE, which would make librdkafka retry a poison batch until it times out.
    public var kafkaErrorCode: KafkaErrorCode {
        switch code {
        case .unsupportedMagic, .invalidRecordCount, .invalidOffsetRange, .malformedRecord, .invalidOffsetDelta, .invalidTimestamp,
             .decompressionFailed, .controlBatchFromClient, .invalidProducerFields, .missingKey:
            .invalidRecord
        case .decompressedTooLarge, .tooManyRecords: .messageTooLarge
        default: .corruptMessage
        }
    }
}
