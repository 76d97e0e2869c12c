/// Why bytes from a peer could not be decoded. Every read of the protocol layer is bounds-checked
/// and reports one of these instead of trapping, however hostile the input.
public struct KafkaDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// Fewer bytes remain than the field needs.
        public static let truncated = Code("truncated")
        /// A length or count is negative (and not the null marker) or larger than what remains.
        public static let invalidLength = Code("invalidLength")
        /// A varint runs past its maximum width or its value does not fit.
        public static let invalidVarint = Code("invalidVarint")
        /// A string field is not valid UTF-8.
        public static let invalidUTF8 = Code("invalidUTF8")
        /// A null arrived where the schema does not allow one.
        public static let unexpectedNull = Code("unexpectedNull")
        /// A value is outside what the field allows (an unknown enum, a bad tag order...).
        public static let invalidValue = Code("invalidValue")
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(code): \(detail)" }
}
