import RunnelProtocol

/// FindCoordinator (10), versions 0-4: the leader of the group's `__consumer_offsets`
/// partition, or COORDINATOR_NOT_AVAILABLE while it has none. Transaction coordinators (key
/// type 1) do not exist yet.
struct FindCoordinatorHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...4
    let context: HandlerContext

    struct Answer {
        var code = KafkaErrorCode.none
        var message: String?
        var nodeId: Int32 = -1
        var host = ""
        var port: Int32 = -1
    }

    func handle(_ request: FindCoordinatorRequest, context requestContext: RequestContext) async -> HandlerReply<FindCoordinatorResponse> {
        let keys = requestContext.apiVersion >= 4 ? request.coordinatorKeys : [request.key]
        if request.keyType == 0 { await context.createOffsetsTopicIfReady() }
        let answers = keys.map { answer(for: $0, keyType: request.keyType) }
        if requestContext.apiVersion >= 4 {
            return .response(FindCoordinatorResponse(coordinators: zip(keys, answers).map { key, found in
                .init(key: key, nodeId: found.nodeId, host: found.host, port: found.port, errorCode: found.code.rawValue,
                      errorMessage: found.message)
            }))
        }
        let only = answers[0]
        return .response(FindCoordinatorResponse(
            errorCode: only.code.rawValue, errorMessage: only.message, nodeId: only.nodeId, host: only.host, port: only.port))
    }

    private func answer(for key: String, keyType: Int8) -> Answer {
        guard keyType == 0 else { return Answer(code: .coordinatorNotAvailable, message: "transactions are not supported yet") }
        switch context.coordinator(for: key) {
        case .here, .loading:
            // Loading: this broker is the coordinator; the group requests themselves wait.
            let (host, port) = context.config.advertised
            let registered = context.metadata.image.brokers[context.config.nodeId]
            return Answer(nodeId: context.config.nodeId, host: registered?.host ?? host, port: registered?.port ?? Int32(port))
        case .elsewhere(let broker):
            return Answer(nodeId: broker.brokerId, host: broker.host, port: broker.port)
        case .notYetCreated:
            return Answer(code: .coordinatorNotAvailable, message: "\(GroupCoordinatorRuntime.offsetsTopic) does not exist yet")
        case .unavailable(let reason):
            return Answer(code: .coordinatorNotAvailable, message: reason)
        }
    }
}
