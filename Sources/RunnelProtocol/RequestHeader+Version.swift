/// Which header versions frame a request and its response (KIP-482): a flexible API version uses
/// request header v2 (with a tagged-field section) and response header v1; others use request
/// header v1 and response header v0. ApiVersions is the exception: its response header is always
/// v0, so a client can read the response whatever version it asked for.
extension RequestHeader {
    /// The request header version for `apiKey` at `apiVersion`, or nil for an API without
    /// generated messages (its header can still be read as v1 up to the client id).
    public static func version(apiKey: Int16, apiVersion: Int16) -> Int16? {
        KafkaAPI(key: apiKey).map { $0.requestHeaderVersion(apiVersion) }
    }
}

extension ResponseHeader {
    /// The response header version for `apiKey` at `apiVersion`, or nil for an API without
    /// generated messages.
    public static func version(apiKey: Int16, apiVersion: Int16) -> Int16? {
        KafkaAPI(key: apiKey).map { $0.responseHeaderVersion(apiVersion) }
    }
}

extension KafkaAPI {
    public func requestHeaderVersion(_ apiVersion: Int16) -> Int16 {
        isFlexible(apiVersion) ? 2 : 1
    }

    public func responseHeaderVersion(_ apiVersion: Int16) -> Int16 {
        key == ApiVersionsRequest.apiKey ? 0 : isFlexible(apiVersion) ? 1 : 0
    }
}

extension KafkaRequestMessage {
    public static func requestHeaderVersion(_ apiVersion: Int16) -> Int16 {
        isFlexible(apiVersion) ? 2 : 1
    }

    public static func responseHeaderVersion(_ apiVersion: Int16) -> Int16 {
        apiKey == ApiVersionsRequest.apiKey ? 0 : isFlexible(apiVersion) ? 1 : 0
    }
}
