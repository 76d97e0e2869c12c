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
        /// recordsCount disagrees with lastOffsetDelta or with the records present.
        public static let invalidRecordCount = Code("invalidRecordCount")
        /// A record inside the batch does not parse, or bytes trail the last record.
        public static let malformedRecord = Code("malformedRecord")
        /// The records section does not decompress (corrupt stream).
        public static let decompressionFailed = Code("decompressionFailed")
        /// The records section inflates past the configured maximum.
        public static let decompressedTooLarge = Code("decompressedTooLarge")
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(code): \(detail)" }

    /// The Kafka error code a broker answers a produced batch with.
    public var kafkaErrorCode: KafkaErrorCode {
        switch code {
        case .unsupportedMagic, .invalidRecordCount: .invalidRecord
        case .decompressedTooLarge: .messageTooLarge
        default: .corruptMessage
        }
    }
}
