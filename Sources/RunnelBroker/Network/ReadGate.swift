import NIOCore

/// Decides when a connection's socket is read: the first handler of every connection's
/// pipeline, it holds back the channel's `read` calls while any reason to stop reading stands
/// (NIO's back-pressure pattern: with autoRead, the next read is asked for through the
/// pipeline, so an outbound handler that withholds it stops the socket being read, and the
/// kernel's buffers then stop the client). Reasons:
/// - `.queuedFrames`: KafkaConnectionHandler has too many requests waiting their turn;
/// - `.memory`: RequestFrameDecoder could not reserve its next frame in the broker's
///   RequestMemoryPool (`queued.max.request.bytes`); when bytes come back, the gate reopens and
///   hands the decoder an empty read, so that a frame whose bytes are already buffered is
///   decoded without waiting for more from the client.
///
/// Event-loop bound: every method runs on the connection's event loop, except the pool's
/// callback, which hops there.
final class ReadGate: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = Any

    enum Reason: Hashable {
        case queuedFrames
        case memory
    }

    private let pool: RequestMemoryPool
    private var context: ChannelHandlerContext?
    private var reasons: Set<Reason> = []
    private var readWithheld = false
    /// The pool's ticket while `.memory` holds the gate.
    private var memoryWait: Int?

    init(pool: RequestMemoryPool) {
        self.pool = pool
    }

    var isOpen: Bool { reasons.isEmpty }
    var isWaitingForMemory: Bool { memoryWait != nil }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if let memoryWait { pool.cancelWait(memoryWait) }
        memoryWait = nil
        self.context = nil
    }

    func read(context: ChannelHandlerContext) {
        if reasons.isEmpty {
            context.read()
        } else {
            readWithheld = true
        }
    }

    func hold(_ reason: Reason) {
        reasons.insert(reason)
    }

    func release(_ reason: Reason) {
        guard reasons.remove(reason) != nil, reasons.isEmpty, readWithheld, let context else { return }
        readWithheld = false
        context.read()
    }

    /// Reserves a frame of `bytes` in the pool. If the pool has nothing left, stops reading
    /// until bytes are released, then lets the decoder try again; returns false meanwhile.
    func reserveFrame(_ bytes: Int) -> Bool {
        guard memoryWait == nil, let context else { return false }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        switch pool.reserve(bytes, whenAvailable: { eventLoop.execute { loopBound.value.memoryReleased() } }) {
        case .granted:
            return true
        case .waiting(let id):
            memoryWait = id
            hold(.memory)
            return false
        }
    }

    private func memoryReleased() {
        guard memoryWait != nil, let context else { return }
        memoryWait = nil
        release(.memory)
        // The frame may be buffered already: let the decoder look again.
        context.fireChannelRead(NIOAny(ByteBuffer()))
    }
}
