import RunnelProtocol

/// InitProducerId (22), versions 0-5, for idempotent producers: a fresh producer id (epoch 0),
/// or, when a producer asks to bump its own (KIP-360), the same id with the next epoch.
/// Transactional ids need the transaction coordinator, which is not there yet.
struct InitProducerIdHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...5
    let context: HandlerContext

    func handle(_ request: InitProducerIdRequest, context requestContext: RequestContext) async -> HandlerReply<InitProducerIdResponse> {
        guard request.transactionalId == nil else {
            return .response(InitProducerIdResponse(errorCode: KafkaErrorCode.invalidRequest.rawValue, producerId: -1, producerEpoch: -1))
        }
        if request.producerId >= 0, request.producerEpoch >= 0, request.producerEpoch < Int16.max - 1 {
            return .response(InitProducerIdResponse(producerId: request.producerId, producerEpoch: request.producerEpoch + 1))
        }
        do {
            return .response(InitProducerIdResponse(producerId: try context.producerIds.next(), producerEpoch: 0))
        } catch {
            context.logger.error("producer id allocation failed: \(error)")
            return .response(InitProducerIdResponse(errorCode: KafkaErrorCode.unknownServerError.rawValue, producerId: -1, producerEpoch: -1))
        }
    }
}
