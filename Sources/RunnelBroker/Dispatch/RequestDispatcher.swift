import Logging
import NIOCore
import RunnelProtocol

/// Reads each frame's request header and hands the body to the API's handler.
///
/// An unknown API key, a version outside what we serve, or a header that does not parse closes
/// the connection, as Kafka does; the exception is ApiVersions, which answers an unsupported
/// version with UNSUPPORTED_VERSION and its own range so that clients retry with one it has.
struct RequestDispatcher: KafkaRequestProcessor {
    let handlers: [Int16: AnyAPIHandler]
    let logger: Logger
    /// Requests counted by API and version, and their answers' error codes.
    let metrics: RequestMetrics?

    init(handlers: [AnyAPIHandler], logger: Logger, metrics: RequestMetrics? = nil) {
        self.handlers = Dictionary(uniqueKeysWithValues: handlers.map { ($0.apiKey, $0) })
        self.logger = logger
        self.metrics = metrics
    }

    /// The ApiVersions answer: every handler's key and version range.
    var advertisedVersions: [ApiVersionsResponse.ApiVersion] {
        handlers.values.sorted { $0.apiKey < $1.apiKey }.map {
            ApiVersionsResponse.ApiVersion(apiKey: $0.apiKey, minVersion: $0.versions.lowerBound, maxVersion: $0.versions.upperBound)
        }
    }

    func process(frame: ByteBuffer, client: String) async -> RequestOutcome {
        var buffer = frame
        guard let apiKey = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: Int16.self),
              let apiVersion = buffer.getInteger(at: buffer.readerIndex + 2, endianness: .big, as: Int16.self),
              let correlationId = buffer.getInteger(at: buffer.readerIndex + 4, endianness: .big, as: Int32.self)
        else { return .close(reason: "request of \(frame.readableBytes) bytes is shorter than a request header") }
        guard let handler = handlers[apiKey] else {
            return .close(reason: "unknown or unsupported API key \(apiKey)")
        }
        guard handler.versions.contains(apiVersion) else {
            if apiKey == ApiVersionsRequest.apiKey { return unsupportedApiVersions(correlationId: correlationId) }
            return .close(reason: "API key \(apiKey) version \(apiVersion) is outside the supported \(handler.versions)")
        }
        let header: RequestHeader
        do {
            let headerVersion = RequestHeader.version(apiKey: apiKey, apiVersion: apiVersion) ?? 1
            header = try RequestHeader(from: &buffer, version: headerVersion)
        } catch {
            return .close(reason: "malformed request header: \(error)")
        }
        let api = metrics?.api(apiKey)
        api?.countRequest(version: apiVersion)
        let context = RequestContext(
            apiVersion: apiVersion, correlationId: correlationId, clientId: header.clientId, client: client, metrics: api)
        return await handler.run(&buffer, context)
    }

    /// KIP-511: a v0 body with error 35 and at least our ApiVersions range; the client retries.
    private func unsupportedApiVersions(correlationId: Int32) -> RequestOutcome {
        let response = ApiVersionsResponse(errorCode: KafkaErrorCode.unsupportedVersion.rawValue, apiKeys: advertisedVersions)
        var body = ByteBuffer()
        response.encode(to: &body, version: 0)
        return .respond(KafkaResponse(correlationId: correlationId, headerVersion: 0, body: body))
    }
}
