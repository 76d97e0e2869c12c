import NIOCore
import NIOHTTP1
import NIOPosix

/// The broker's HTTP listener for operators (`metrics.listen`, default 127.0.0.1:9644):
///
/// - `GET /metrics`: every series in Prometheus' text format (version 0.0.4);
/// - `GET /healthz`: 200 while the process serves HTTP at all (a liveness probe);
/// - `GET /readyz`: 200 once the broker serves Kafka clients (`Readiness`), else 503 with
///   the reason, for systemd, load balancers and Kubernetes readiness probes.
///
/// Anything else is 404 (405 for other methods). Responses close nothing: probes may keep the
/// connection alive. A scrape computes the state gauges, which may read log files, so it runs
/// on `scrapes`, a pool of its own (one thread: concurrent scrapes take turns there instead of
/// occupying the event loops or Swift's shared executor, where the metadata lease is kept).
enum MetricsServer {
    static func start(
        host: String, port: Int, group: any EventLoopGroup, scrapes: NIOThreadPool, metrics: @escaping @Sendable () -> [UInt8],
        readiness: @escaping @Sendable () -> Readiness.Status
    ) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(scrapes: scrapes, metrics: metrics, readiness: readiness))
                }
            }
            .bind(host: host, port: port).get()
    }
}

/// Answers one HTTP/1 request at a time (NIOHTTP1's pipelining handler holds the next).
///
/// Event-loop bound: all state lives on the channel's loop; the scrape's bytes come back to it
/// through `NIOLoopBound`.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let scrapes: NIOThreadPool
    private let metrics: @Sendable () -> [UInt8]
    private let readiness: @Sendable () -> Readiness.Status
    private var request: HTTPRequestHead?

    init(scrapes: NIOThreadPool, metrics: @escaping @Sendable () -> [UInt8], readiness: @escaping @Sendable () -> Readiness.Status) {
        self.scrapes = scrapes
        self.metrics = metrics
        self.readiness = readiness
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break
        case .end:
            guard let head = request else { return }
            request = nil
            answer(head, context: context)
        }
    }

    private func answer(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard head.method == .GET || head.method == .HEAD else {
            return respond(head, status: .methodNotAllowed, body: "only GET\n", context: context)
        }
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        switch path {
        case "/metrics":
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            scrapes.runIfActive(eventLoop: context.eventLoop, metrics).whenComplete { result in
                let (handler, context) = loopBound.value
                switch result {
                case .success(let bytes):
                    handler.respond(
                        head, status: .ok, body: bytes, contentType: "text/plain; version=0.0.4; charset=utf-8", context: context)
                case .failure:
                    handler.respond(head, status: .serviceUnavailable, body: "shutting down\n", context: context)
                }
            }
        case "/healthz":
            respond(head, status: .ok, body: "ok\n", context: context)
        case "/readyz":
            switch readiness() {
            case .ready: respond(head, status: .ok, body: "ready\n", context: context)
            case .notReady(let reason): respond(head, status: .serviceUnavailable, body: "not ready: \(reason)\n", context: context)
            }
        default:
            respond(head, status: .notFound, body: "not found: try /metrics, /healthz or /readyz\n", context: context)
        }
    }

    private func respond(_ request: HTTPRequestHead, status: HTTPResponseStatus, body: String, context: ChannelHandlerContext) {
        respond(request, status: status, body: Array(body.utf8), contentType: "text/plain; charset=utf-8", context: context)
    }

    private func respond(
        _ request: HTTPRequestHead, status: HTTPResponseStatus, body: [UInt8], contentType: String, context: ChannelHandlerContext
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.count))
        let keepAlive = request.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        if request.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let sent = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive { sent.whenComplete { [channel = context.channel] _ in channel.close(promise: nil) } }
    }
}
