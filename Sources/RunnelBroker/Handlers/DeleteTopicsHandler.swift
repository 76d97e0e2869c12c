import RunnelCluster
import RunnelProtocol

/// DeleteTopics (20), versions 1-6 (v6 may name topics by id).
struct DeleteTopicsHandler: APIHandler {
    let versions: ClosedRange<Int16> = 1...6
    let context: HandlerContext

    func handle(_ request: DeleteTopicsRequest, context requestContext: RequestContext) async -> HandlerReply<DeleteTopicsResponse> {
        let wanted: [(name: String?, id: KafkaUUID)] = requestContext.apiVersion >= 6
            ? request.topics.map { ($0.name, $0.topicId) }
            : request.topicNames.map { ($0, KafkaUUID.zero) }
        var results: [DeleteTopicsResponse.DeletableTopicResult] = []
        for topic in wanted {
            var result = DeleteTopicsResponse.DeletableTopicResult(name: topic.name, topicId: topic.id)
            do {
                guard let name = topic.name ?? context.metadata.topic(id: topic.id)?.name else {
                    throw ClusterMetadataError(.unknownTopicId, "no topic has id \(topic.id)")
                }
                let deleted = try await context.topics.delete(name: name)
                result.name = deleted.name
                result.topicId = deleted.id
                context.logAdminChange("deleted topic \(deleted.name)", by: requestContext)
            } catch {
                (result.errorCode, result.errorMessage) = kafkaError(for: error)
            }
            results.append(result)
        }
        return .response(DeleteTopicsResponse(responses: results))
    }
}
