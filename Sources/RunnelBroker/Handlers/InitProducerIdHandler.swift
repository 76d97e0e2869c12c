import RunnelProtocol

/// InitProducerId (22), versions 0-5, for idempotent producers: always a fresh producer id with
/// epoch 0, as Kafka's transaction coordinator answers a request without a transactional id.
/// The producer id and epoch a KIP-360 producer sends to "bump" are deliberately ignored: the
/// broker cannot tell that the sender owns that id, and bumping it would fence whichever other
/// client holds it. A new id serves the same purpose (sequences restart at 0).
/// Transactional ids need the transaction coordinator, which is not there yet.
struct InitProducerIdHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...5
    let context: HandlerContext

    func handle(_ request: InitProducerIdRequest, context requestContext: RequestContext) async -> HandlerReply<InitProducerIdResponse> {
        guard request.transactionalId == nil else {
            return .response(InitProducerIdResponse(errorCode: KafkaErrorCode.invalidRequest.rawValue, producerId: -1, producerEpoch: -1))
        }
        do {
            return .response(InitProducerIdResponse(producerId: try await context.producerIds.next(), producerEpoch: 0))
        } catch {
            context.logger.error("producer id allocation failed: \(error)")
            return .response(InitProducerIdResponse(errorCode: KafkaErrorCode.unknownServerError.rawValue, producerId: -1, producerEpoch: -1))
        }
    }
}
