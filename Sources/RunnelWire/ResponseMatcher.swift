import NIOCore
import RunnelProtocol

/// The client end of a broker connection's pipeline: writes request frames and hands each
/// response frame to the request it answers, by correlation id. Runs on the channel's event
/// loop, so its table needs no lock. A request not answered within its timeout fails alone;
/// a closed connection fails everything still waiting.
final class ResponseMatcher: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Outbound
    typealias OutboundOut = ByteBuffer

    struct Outbound {
        var frame: ByteBuffer
        var correlationId: Int32
        var expectsResponse: Bool
        var responseHeaderVersion: Int16
        var promise: EventLoopPromise<ByteBuffer>
        var timeout: TimeAmount
    }

    private struct Waiting {
        var responseHeaderVersion: Int16
        var promise: EventLoopPromise<ByteBuffer>
        var timeout: Scheduled<Void>?
    }

    private var waiting: [Int32: Waiting] = [:]
    private var closedReason: String?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let closedReason {
            request.promise.fail(KafkaClientError.disconnected(nil, closedReason))
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        guard request.expectsResponse else {
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.whenComplete { result in
                switch result {
                case .success: request.promise.succeed(ByteBuffer())
                case .failure(let error): request.promise.fail(error)
                }
            }
            context.write(wrapOutboundOut(request.frame), promise: written)
            return
        }
        let correlationId = request.correlationId
        let timeout = context.eventLoop.assumeIsolated().scheduleTask(in: request.timeout) { [weak self] in
            guard let self, let entry = self.waiting.removeValue(forKey: correlationId) else { return }
            entry.promise.fail(KafkaClientError.requestTimedOut)
        }
        waiting[correlationId] = Waiting(responseHeaderVersion: request.responseHeaderVersion, promise: request.promise, timeout: timeout)
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenFailure { [weak self] error in
            guard let self, let entry = self.waiting.removeValue(forKey: correlationId) else { return }
            entry.timeout?.cancel()
            entry.promise.fail(KafkaClientError.disconnected(nil, "\(error)"))
        }
        written.futureResult.cascade(to: promise)
        context.write(wrapOutboundOut(request.frame), promise: written)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        guard let correlationId = frame.getInteger(at: frame.readerIndex, as: Int32.self) else {
            context.fireErrorCaught(KafkaClientError.malformedResponse(nil, "response frame shorter than its header"))
            return
        }
        // A response to a request that already timed out is dropped.
        guard let entry = waiting.removeValue(forKey: correlationId) else { return }
        entry.timeout?.cancel()
        do {
            _ = try ResponseHeader(from: &frame, version: entry.responseHeaderVersion)
            entry.promise.succeed(frame)
        } catch {
            entry.promise.fail(KafkaClientError.malformedResponse(nil, "response header: \(error)"))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll("\(error)")
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll("connection closed")
        context.fireChannelInactive()
    }

    private func failAll(_ reason: String) {
        closedReason = closedReason ?? reason
        let entries = waiting.values
        waiting.removeAll()
        for entry in entries {
            entry.timeout?.cancel()
            entry.promise.fail(KafkaClientError.disconnected(nil, reason))
        }
    }
}
