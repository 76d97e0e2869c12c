import NIOCore
import RunnelProtocol

/// What a handler knows about the request besides its body.
public struct RequestContext: Sendable {
    public var apiVersion: Int16
    public var correlationId: Int32
    public var clientId: String?
    /// The peer address, for log lines.
    public var client: String
    /// Where the response's error codes are counted (nil in tests without metrics).
    var metrics: RequestMetrics.API?
}

/// How a handler answers.
public enum HandlerReply<Response: KafkaResponseMessage>: Sendable {
    case response(Response)
    /// A body the handler framed itself, with record data as file slices (Fetch).
    case parts([KafkaResponse.Part])
    /// No response at all (Produce with acks=0).
    case none
    /// The ordered part is done; the reply only waits (a produce's fsyncs), and the connection
    /// may serve its next request meanwhile.
    case later(@Sendable () async -> HandlerReply<Response>)
}

/// One Kafka API: the versions it serves (and advertises in ApiVersions) and how it answers.
/// One file per API under Handlers/; `HandlerRegistry` lists them all.
public protocol APIHandler: Sendable {
    associatedtype Request: KafkaRequestMessage
    var versions: ClosedRange<Int16> { get }
    func handle(_ request: Request, context: RequestContext) async -> HandlerReply<Request.Response>
}

/// A handler with its types erased, so the registry can hold them all in one table.
struct AnyAPIHandler: Sendable {
    let apiKey: Int16
    let versions: ClosedRange<Int16>
    let run: @Sendable (_ body: inout ByteBuffer, _ context: RequestContext) async -> RequestOutcome

    init<Handler: APIHandler>(_ handler: Handler) {
        apiKey = Handler.Request.apiKey
        versions = handler.versions
        run = { body, context in
            let request: Handler.Request
            do {
                request = try Handler.Request(from: &body, version: context.apiVersion)
            } catch {
                // Kafka cannot parse it either: drop the connection, say why.
                return .close(reason: "malformed \(Handler.Request.self) v\(context.apiVersion): \(error)")
            }
            let headerVersion = Handler.Request.responseHeaderVersion(context.apiVersion)
            return Self.outcome(of: await handler.handle(request, context: context), context: context, headerVersion: headerVersion)
        }
    }

    private static func outcome<Response: KafkaResponseMessage>(
        of reply: HandlerReply<Response>, context: RequestContext, headerVersion: Int16
    ) -> RequestOutcome {
        switch reply {
        case .response(let response):
            context.metrics?.countErrors(of: response, version: context.apiVersion)
            var buffer = ByteBuffer()
            response.encode(to: &buffer, version: context.apiVersion)
            return .respond(KafkaResponse(correlationId: context.correlationId, headerVersion: headerVersion, body: buffer))
        case .parts(let parts):
            return .respond(KafkaResponse(correlationId: context.correlationId, headerVersion: headerVersion, parts: parts))
        case .none:
            return .noResponse
        case .later(let rest):
            return .later { outcome(of: await rest(), context: context, headerVersion: headerVersion) }
        }
    }
}
