import RunnelCluster
import RunnelProtocol

/// CreatePartitions (37), versions 0-3: grows a topic to `count` partitions.
struct CreatePartitionsHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...3
    let context: HandlerContext

    func handle(_ request: CreatePartitionsRequest, context requestContext: RequestContext) async -> HandlerReply<CreatePartitionsResponse> {
        let results = request.topics.map { topic in
            var result = CreatePartitionsResponse.CreatePartitionsTopicResult(name: topic.name)
            do {
                _ = try context.topics.addPartitions(topic: topic.name, totalCount: topic.count, validateOnly: request.validateOnly)
            } catch {
                (result.errorCode, result.errorMessage) = kafkaError(for: error)
            }
            return result
        }
        return .response(CreatePartitionsResponse(results: results))
    }
}
