import NIOCore
import RunnelStorage

/// A response ready to frame: the header's correlation id and version, then body parts that
/// are either bytes or file slices (record data sent with sendfile).
public struct KafkaResponse: Sendable {
    public enum Part: Sendable {
        case bytes(ByteBuffer)
        case file(FileSlice)

        var size: Int {
            switch self {
            case .bytes(let buffer): buffer.readableBytes
            case .file(let slice): slice.length
            }
        }
    }

    /// A response larger than a frame's int32 size prefix can describe. Handlers bound what
    /// they answer (FetchHandler keeps within the frame); this is the last check before the
    /// size is written, so that a mistake costs one connection, not the broker.
    public struct TooLargeForFrame: Error, CustomStringConvertible {
        public let size: Int
        public var description: String { "a response of \(size) bytes exceeds the largest frame (\(Int32.max) bytes)" }
    }

    public var correlationId: Int32
    /// 0: correlation id only; 1: correlation id and an (empty) tagged-field section.
    public var headerVersion: Int16
    public var parts: [Part]

    public init(correlationId: Int32, headerVersion: Int16, parts: [Part]) {
        self.correlationId = correlationId
        self.headerVersion = headerVersion
        self.parts = parts
    }

    public init(correlationId: Int32, headerVersion: Int16, body: ByteBuffer) {
        self.init(correlationId: correlationId, headerVersion: headerVersion, parts: [.bytes(body)])
    }

    private var headerSize: Int { headerVersion >= 1 ? 5 : 4 }

    /// The value of the frame's size prefix: header and body bytes. An `Int`, so parts whose
    /// lengths add up past `Int32.max` are measured, not trapped (each part is at most the size
    /// of a file or a buffer, so the sum cannot overflow 64 bits).
    var frameSize: Int { parts.reduce(headerSize) { $0 + $1.size } }

    /// The frame's size prefix and header, to write before the parts.
    func framePrefix(allocator: ByteBufferAllocator) throws(TooLargeForFrame) -> ByteBuffer {
        let size = frameSize
        guard let prefixValue = Int32(exactly: size) else { throw TooLargeForFrame(size: size) }
        var prefix = allocator.buffer(capacity: 4 + headerSize)
        prefix.writeInteger(prefixValue, endianness: .big)
        prefix.writeInteger(correlationId, endianness: .big)
        if headerVersion >= 1 { prefix.writeInteger(UInt8(0)) }  // no tagged fields
        return prefix
    }
}
