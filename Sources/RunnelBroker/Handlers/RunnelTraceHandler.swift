import RunnelCoordinator
import RunnelProtocol
import RunnelStorage

/// RunnelTrace (Runnel's key 32700, never advertised; see `RunnelTraceRequest`): what this
/// broker knows of the record at an offset — the batch holding it in its replica, who produced
/// it (if this broker led the partition when it was appended), and the committed offsets of
/// the groups it coordinates on that partition.
struct RunnelTraceHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...0
    let context: HandlerContext

    func handle(_ request: RunnelTraceRequest, context requestContext: RequestContext) async -> HandlerReply<RunnelTraceResponse> {
        var response = RunnelTraceResponse()
        let topicPartition = TopicPartition(topic: request.topic, partition: request.partition)
        if let partition = context.replicas.partition(topicPartition) {
            let log = partition.log
            let offset = request.offset
            do {
                // The sidecar is read from disk: on the read pool, never on the event loop.
                if let found = try await context.logReads.run({ try log.trace(at: offset) }) {
                    let header = found.batch
                    response.batch = .init(
                        baseOffset: header.baseOffset, lastOffset: header.lastOffset, producerId: header.producerId,
                        producerEpoch: header.producerEpoch, baseSequence: header.baseSequence, maxTimestamp: header.maxTimestamp)
                    if let trace = found.trace, let origin = trace.origin {
                        response.origin = .init(clientId: origin.clientId, address: origin.address, appendTimeMs: trace.appendTimeMs)
                    } else if let trace = found.trace {
                        response.origin = .init(clientId: "", address: "", appendTimeMs: trace.appendTimeMs)
                    }
                }
            } catch let error as StorageError where error.code == .offsetOutOfRange {
                response.errorCode = KafkaErrorCode.offsetOutOfRange.rawValue
                response.errorMessage = error.detail
            } catch {
                response.errorCode = (error as? StorageError)?.kafkaErrorCode.rawValue ?? KafkaErrorCode.unknownServerError.rawValue
                response.errorMessage = "\(error)"
            }
        }
        response.groups = context.groups.commits(on: GroupTopicPartition(topic: request.topic, partition: request.partition)).map {
            .init(groupId: $0.groupId, committedOffset: $0.offset.offset, commitTimestamp: $0.offset.commitTimestamp)
        }
        return .response(response)
    }
}
