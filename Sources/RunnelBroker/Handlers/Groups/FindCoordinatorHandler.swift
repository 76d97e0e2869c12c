import RunnelProtocol

/// FindCoordinator (10), versions 0-4: on one broker, this broker coordinates every group.
/// Transaction coordinators (key type 1) do not exist yet.
struct FindCoordinatorHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...4
    let context: HandlerContext

    func handle(_ request: FindCoordinatorRequest, context requestContext: RequestContext) async -> HandlerReply<FindCoordinatorResponse> {
        let (host, port) = context.config.advertised
        let supported = request.keyType == 0
        let code = supported ? KafkaErrorCode.none : .coordinatorNotAvailable
        let message = supported ? nil : "transactions are not supported yet"
        if requestContext.apiVersion >= 4 {
            return .response(FindCoordinatorResponse(coordinators: request.coordinatorKeys.map {
                .init(key: $0, nodeId: supported ? context.config.nodeId : -1, host: supported ? host : "", port: supported ? Int32(port) : -1,
                      errorCode: code.rawValue, errorMessage: message)
            }))
        }
        return .response(FindCoordinatorResponse(
            errorCode: code.rawValue, errorMessage: message, nodeId: supported ? context.config.nodeId : -1,
            host: supported ? host : "", port: supported ? Int32(port) : -1))
    }
}
