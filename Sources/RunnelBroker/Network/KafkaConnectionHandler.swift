#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore

/// What processing one request frame led to.
public enum RequestOutcome: Sendable {
    case respond(KafkaResponse)
    /// Produce with acks=0 is never answered.
    case noResponse
    /// A request Kafka would also refuse to parse: drop the connection, say why in the log.
    case close(reason: String)
    /// Everything that must happen in order is done (a produce's appends); the answer only
    /// waits (for fsyncs). The connection goes on to the next request meanwhile, and the
    /// answers still leave in request order.
    case later(@Sendable () async -> RequestOutcome)
}

/// Turns a request frame into an outcome. The broker's dispatcher implements it.
public protocol KafkaRequestProcessor: Sendable {
    func process(frame: ByteBuffer, client: String) async -> RequestOutcome
}

/// One client connection. Requests are processed one at a time, in arrival order, as Kafka's
/// network layer does: clients pipeline requests and match responses by order (Java's
/// NetworkClient checks correlation ids in sequence), so a long-polling fetch must not be
/// overtaken by a later request's response on the same connection. A request whose outcome is
/// `.later` frees the connection for the next one; its answer keeps its place in `answers`.
///
/// When the connection closes, the tasks of its requests are cancelled: a long-polling fetch
/// stops waiting instead of outliving its connection. Requests already read but not started
/// still run, unanswered and cancelled from the start, as Kafka handles every request it has
/// read: an acks=0 producer or a consumer committing on its way out closes right after
/// sending. Each frame's bytes were reserved in the broker's RequestMemoryPool by
/// RequestFrameDecoder; they are released once the request has been processed. A connection idle for
/// `connections.max.idle.ms` (IdleStateHandler's event) is closed.
///
/// Each request's time is measured in phases (`RequestMetrics`): queued here, in its handler,
/// waiting after it (`.later`), and sending the response.
///
/// Event-loop bound: every method and the state run on the connection's event loop; request
/// tasks run there too (EventLoopTaskExecutor) and touch the handler only through NIOLoopBound.
final class KafkaConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = IOData

    private let processor: any KafkaRequestProcessor
    private let registry: ConnectionRegistry
    private let gate: ReadGate
    private let pool: RequestMemoryPool
    private let logger: Logger
    private let metrics: RequestMetrics?
    /// Shared by every connection: one warning per kind per interval, with the count held back,
    /// so a flood of bad clients cannot bury the log (nil: every warning is logged).
    private let warnings: LogLineRateLimiter?
    /// Frames read and not yet started, with when each was read.
    private var pending: [(frame: ByteBuffer, readAt: NIODeadline)] = []
    private var busy = false
    /// Answers in request order, with their timing; the outcome is nil while a `.later`
    /// outcome is still waiting.
    private var answers: [(outcome: RequestOutcome?, timing: RequestTiming)] = []
    private var answersBase = 0
    /// `.later` outcomes not yet answered; beyond this the connection stops taking requests.
    private var waiting = 0
    private static let maxWaitingAnswers = 8
    private var closed = false
    private var client = "unknown"
    /// Frames queued beyond this stop reads until the queue drains to half (back-pressure).
    private static let maxQueuedFrames = 64
    /// The tasks of requests not yet answered, by request number, to cancel at close.
    private var running: [Int: Task<Void, Never>] = [:]
    private var requestsStarted = 0

    init(
        processor: any KafkaRequestProcessor, registry: ConnectionRegistry, gate: ReadGate, pool: RequestMemoryPool, logger: Logger,
        metrics: RequestMetrics? = nil, warnings: LogLineRateLimiter? = nil
    ) {
        self.warnings = warnings
        self.processor = processor
        self.registry = registry
        self.gate = gate
        self.pool = pool
        self.logger = logger
        self.metrics = metrics
    }

    func channelActive(context: ChannelHandlerContext) {
        client = context.remoteAddress?.hostAndPort ?? "unknown"
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pending.append((unwrapInboundIn(data), NIODeadline.now()))
        if pending.count >= Self.maxQueuedFrames { gate.hold(.queuedFrames) }
        processNext(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        if !running.isEmpty {
            logger.debug("connection from \(client) closed: cancelling \(running.count) requests in flight")
            for task in running.values { task.cancel() }
        }
        processNext(context: context)
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .all {
            logger.debug("closing connection from \(client): idle for connections.max.idle.ms")
            closed = true
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A client that vanishes mid-connection is routine; anything else is worth a warning.
        if let io = error as? IOError, io.errnoCode == ECONNRESET || io.errnoCode == EPIPE {
            logger.debug("connection from \(client) reset: \(error)")
        } else {
            warn("connection error", "closing connection from \(client): \(error)")
        }
        closed = true
        context.close(promise: nil)
    }

    private func processNext(context: ChannelHandlerContext) {
        // After close the requests already read still run (see the type's comment).
        guard !busy, !pending.isEmpty, waiting < Self.maxWaitingAnswers else { return }
        busy = true
        let (frame, readAt) = pending.removeFirst()
        let started = NIODeadline.now()
        // The API key is the frame's first field; a frame too short for one is closed by the dispatcher.
        let api = frame.getInteger(at: frame.readerIndex, endianness: .big, as: Int16.self).flatMap { metrics?.api($0) }
        api?.queueTime.record(Duration(started - readAt))
        let timing = RequestTiming(api: api, readAt: readAt)
        if pending.count <= Self.maxQueuedFrames / 2 { gate.release(.queuedFrames) }
        let processor = processor
        let client = client
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let registry = registry
        let pool = pool
        let frameSize = frame.readableBytes
        let number = requestsStarted
        requestsStarted += 1
        registry.requestStarted()
        let executor = taskExecutor(for: context.eventLoop)
        // The task first runs after this method returns (the executor enqueues it on this
        // loop), so it is in `running` before it can remove itself.
        let task = Task(executorPreference: executor) {
            let outcome = await processor.process(frame: frame, client: client)
            let handled = NIODeadline.now()
            api?.localTime.record(Duration(handled - started))
            // The request has been read and handled: its bytes leave the pool.
            pool.release(frameSize)
            // Still on the connection's event loop: finish without another hop.
            let (handler, context) = loopBound.value
            guard case .later(let rest) = outcome else {
                registry.requestFinished()
                handler.running[number] = nil
                handler.finish(outcome, timing: timing, context: context)
                return
            }
            let slot = handler.reserveAnswer(timing: timing)
            handler.busy = false
            handler.processNext(context: context)
            let final = await rest()
            api?.remoteTime.record(Duration(NIODeadline.now() - handled))
            registry.requestFinished()
            let (sameHandler, sameContext) = loopBound.value
            sameHandler.running[number] = nil
            sameHandler.fill(slot, with: final, context: sameContext)
        }
        running[number] = task
        // Started after its connection closed: nobody waits for the answer, so a long poll
        // answers at once; appends and commits still happen.
        if closed { task.cancel() }
    }

    private var executor: EventLoopTaskExecutor?

    private func taskExecutor(for eventLoop: any EventLoop) -> EventLoopTaskExecutor {
        if let executor { return executor }
        let created = EventLoopTaskExecutor(eventLoop: eventLoop)
        executor = created
        return created
    }

    private func reserveAnswer(timing: RequestTiming) -> Int {
        answers.append((nil, timing))
        waiting += 1
        return answersBase + answers.count - 1
    }

    private func fill(_ slot: Int, with outcome: RequestOutcome, context: ChannelHandlerContext) {
        waiting -= 1
        guard !closed else { return processNext(context: context) }
        answers[slot - answersBase].outcome = outcome
        flushAnswers(context: context)
        processNext(context: context)
    }

    private func finish(_ outcome: RequestOutcome, timing: RequestTiming, context: ChannelHandlerContext) {
        busy = false
        guard !closed else { return processNext(context: context) }
        answers.append((outcome, timing))
        flushAnswers(context: context)
        processNext(context: context)
    }

    /// Sends the answers that are ready, up to the first still waiting.
    private func flushAnswers(context: ChannelHandlerContext) {
        while let first = answers.first, let outcome = first.outcome {
            answers.removeFirst()
            answersBase += 1
            switch outcome {
            case .respond(let response):
                guard write(response, timing: first.timing, context: context) else { return }
            case .noResponse, .later:
                first.timing.api?.totalTime.record(Duration(NIODeadline.now() - first.timing.readAt))
            case .close(let reason):
                warn("malformed request", "closing connection from \(client): \(reason)")
                closed = true
                context.close(promise: nil)
                return
            }
        }
    }

    /// A warning about a client, rate-limited per `kind` across every connection.
    private func warn(_ kind: String, _ message: String) {
        guard let warnings else { return logger.warning("\(message)") }
        guard let heldBack = warnings.admit(kind) else { return }
        logger.warning("\(message)\(heldBack > 0 ? " (and \(heldBack) more \(kind) warnings held back since the last)" : "")")
    }

    /// Writes one response; false (and the connection closes) if it cannot be framed.
    private func write(_ response: KafkaResponse, timing: RequestTiming, context: ChannelHandlerContext) -> Bool {
        let prefix: ByteBuffer
        do {
            prefix = try response.framePrefix(allocator: context.channel.allocator)
        } catch {
            // A handler answered more than a frame can carry; the client cannot be told
            // anything in order any more, so the connection goes (the broker stays up).
            logger.error("closing connection from \(client): response to correlation id \(response.correlationId): \(error)")
            closed = true
            context.close(promise: nil)
            return false
        }
        // The last part's write completes once the whole response is on the socket.
        let sent = timing.api.map { api in
            let promise = context.eventLoop.makePromise(of: Void.self)
            let writing = NIODeadline.now()
            promise.futureResult.whenSuccess {
                let done = NIODeadline.now()
                api.sendTime.record(Duration(done - writing))
                api.totalTime.record(Duration(done - timing.readAt))
            }
            return promise
        }
        let last = response.parts.count - 1
        context.write(wrapOutboundOut(.byteBuffer(prefix)), promise: last < 0 ? sent : nil)
        for (index, part) in response.parts.enumerated() {
            let promise = index == last ? sent : nil
            switch part {
            case .bytes(let buffer):
                context.write(wrapOutboundOut(.byteBuffer(buffer)), promise: promise)
            case .file(let slice):
                ZeroCopy.write(slice, context: context, promise: promise)
            }
        }
        context.flush()
        return true
    }
}

/// Which API a request is (for its metrics) and when it was read off the socket.
struct RequestTiming: Sendable {
    let api: RequestMetrics.API?
    let readAt: NIODeadline
}

extension SocketAddress {
    /// `127.0.0.1:54321` or `[::1]:54321`, as operators write addresses (NIO's description
    /// adds the family and a reverse-lookup name).
    var hostAndPort: String {
        guard let ip = ipAddress, let port else { return description }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}

extension Duration {
    /// A span between two NIO deadlines (uptime nanoseconds).
    init(_ amount: TimeAmount) { self = .nanoseconds(amount.nanoseconds) }
}
