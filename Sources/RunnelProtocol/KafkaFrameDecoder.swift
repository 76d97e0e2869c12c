import NIOCore

/// Splits the byte stream into Kafka frames: a big-endian int32 size, then that many bytes. The
/// broker reads requests with it, the client responses. A negative size, or one above
/// `maxFrameSize` (the broker's `socket.request.max.bytes`), is a protocol violation that closes
/// the connection (the error reaches the channel's handler, which logs it).
public struct KafkaFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    public struct InvalidFrameSize: Error, CustomStringConvertible {
        public let size: Int32
        public let limit: Int
        public var description: String { "frame of \(size) bytes (the limit is \(limit))" }
    }

    public let maxFrameSize: Int

    public init(maxFrameSize: Int) { self.maxFrameSize = maxFrameSize }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let size = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: Int32.self) else { return .needMoreData }
        guard size >= 0, Int(size) <= maxFrameSize else { throw InvalidFrameSize(size: size, limit: maxFrameSize) }
        guard buffer.readableBytes >= 4 + Int(size) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: Int(size))!))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A partial frame at EOF is dropped: the client went away mid-request.
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
