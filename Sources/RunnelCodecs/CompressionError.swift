/// Why compressing or decompressing failed. `Code` is a struct so that adding a code breaks no one.
public struct CompressionError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The input would inflate past the caller's limit (a decompression bomb, or a limit set too low).
        public static let outputLimitExceeded = Code("outputLimitExceeded")
        /// The input is not a valid stream of this codec (bad magic, checksum, truncated frame...).
        public static let malformedInput = Code("malformedInput")
        /// The codec library refused an operation for a reason other than the input.
        public static let libraryFailure = Code("libraryFailure")
    }

    public let code: Code
    public let codec: CompressionCodec
    public let detail: String

    public init(_ code: Code, codec: CompressionCodec, _ detail: String) {
        self.code = code
        self.codec = codec
        self.detail = detail
    }

    public var description: String { "\(codec) \(code): \(detail)" }
}
