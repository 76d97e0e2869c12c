import NIOCore
import RunnelProtocol

/// The broker's request framing: KafkaFrameDecoder's rules (an int32 size, at most
/// `socket.request.max.bytes`), plus `queued.max.request.bytes`. Each frame's size is reserved
/// in the broker's RequestMemoryPool as soon as its size prefix arrives, before the body is
/// buffered, so that many large requests trickling in at once cannot hold more memory than the
/// pool allows. While the pool is exhausted the connection stops reading (ReadGate). The
/// reservation travels with the frame to KafkaConnectionHandler, which releases the frame's
/// size once the request has been processed.
///
/// Owned by its ByteToMessageHandler, on the connection's event loop.
struct RequestFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    private var frames: KafkaFrameDecoder
    private let gate: ReadGate
    private let pool: RequestMemoryPool
    /// The size reserved for the frame being received, until the frame is passed on.
    private var reserved: Int?

    init(maxFrameSize: Int, gate: ReadGate, pool: RequestMemoryPool) {
        frames = KafkaFrameDecoder(maxFrameSize: maxFrameSize)
        self.gate = gate
        self.pool = pool
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if reserved == nil, !reserveNextFrame(buffer) { return .needMoreData }
        let state = try frames.decode(context: context, buffer: &buffer)
        // A whole frame went on: its reservation is KafkaConnectionHandler's to release now.
        if state == .continue { reserved = nil }
        return state
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A partial frame at EOF is dropped (the client went away mid-request); decoderRemoved
        // gives its reservation back.
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }

    mutating func decoderRemoved(context: ChannelHandlerContext) {
        if let reserved { pool.release(reserved) }
        reserved = nil
    }

    /// Reserves the frame whose size prefix is at the front of `buffer`; false if the prefix is
    /// incomplete or the pool has nothing left (the gate then stops reads until it has).
    /// An invalid size is left to KafkaFrameDecoder to refuse, which closes the connection.
    private mutating func reserveNextFrame(_ buffer: ByteBuffer) -> Bool {
        guard let size = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: Int32.self) else { return false }
        guard size >= 0, Int(size) <= frames.maxFrameSize else { return true }
        guard gate.reserveFrame(Int(size)) else { return false }
        reserved = Int(size)
        return true
    }
}
