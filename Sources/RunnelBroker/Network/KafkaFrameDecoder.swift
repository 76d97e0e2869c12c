import NIOCore

/// Splits the byte stream into Kafka request frames: a big-endian int32 size, then that many
/// bytes. A negative size, or one above `socket.request.max.bytes`, is a protocol violation
/// that closes the connection (the error reaches the connection handler, which logs it).
struct KafkaFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    struct InvalidFrameSize: Error, CustomStringConvertible {
        let size: Int32
        let limit: Int
        var description: String { "request frame of \(size) bytes (socket.request.max.bytes is \(limit))" }
    }

    let maxFrameSize: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let size = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: Int32.self) else { return .needMoreData }
        guard size >= 0, Int(size) <= maxFrameSize else { throw InvalidFrameSize(size: size, limit: maxFrameSize) }
        guard buffer.readableBytes >= 4 + Int(size) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: Int(size))!))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A partial frame at EOF is dropped: the client went away mid-request.
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
