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

    /// The frame's size prefix and header, to write before the parts.
    func framePrefix(allocator: ByteBufferAllocator) -> ByteBuffer {
        let headerSize = headerVersion >= 1 ? 5 : 4
        let bodySize = parts.reduce(0) { $0 + $1.size }
        var prefix = allocator.buffer(capacity: 4 + headerSize)
        prefix.writeInteger(Int32(headerSize + bodySize), endianness: .big)
        prefix.writeInteger(correlationId, endianness: .big)
        if headerVersion >= 1 { prefix.writeInteger(UInt8(0)) }  // no tagged fields
        return prefix
    }
}
