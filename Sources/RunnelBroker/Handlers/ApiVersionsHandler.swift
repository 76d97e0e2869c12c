import RunnelProtocol

/// ApiVersions (18): every API this broker serves with its version range. Versions 0-4; an
/// unsupported version is answered by the dispatcher (v0 body, UNSUPPORTED_VERSION).
struct ApiVersionsHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...4
    let apiKeys: [ApiVersionsResponse.ApiVersion]

    init(others: [(Int16, ClosedRange<Int16>)]) {
        apiKeys = (others + [(ApiVersionsRequest.apiKey, 0...4)]).sorted { $0.0 < $1.0 }.map {
            ApiVersionsResponse.ApiVersion(apiKey: $0.0, minVersion: $0.1.lowerBound, maxVersion: $0.1.upperBound)
        }
    }

    func handle(_ request: ApiVersionsRequest, context: RequestContext) async -> HandlerReply<ApiVersionsResponse> {
        // No supported or finalized features: they are tagged fields, and librdkafka 2.0.2
        // cannot skip non-empty tagged fields (see CLIENTS.md).
        .response(ApiVersionsResponse(errorCode: 0, apiKeys: apiKeys))
    }
}
