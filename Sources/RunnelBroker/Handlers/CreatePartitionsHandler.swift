import RunnelCluster
import RunnelProtocol

/// CreatePartitions (37), versions 0-3: grows a topic to `count` partitions, placed by the broker
/// or as the request's assignments say (see `TopicLifecycle.addPartitions`: atomic, and refused
/// before the disk is touched when over a limit).
struct CreatePartitionsHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...3
    let context: HandlerContext

    func handle(_ request: CreatePartitionsRequest, context requestContext: RequestContext) async -> HandlerReply<CreatePartitionsResponse> {
        // As for CreateTopics, too many new partitions over all the topics refuse every topic.
        let added = request.topics.reduce(0) { total, topic in
            total + max(0, Int(topic.count) - Int(context.metadata.topic(named: topic.name)?.partitionCount ?? topic.count))
        }
        let requestRefusal: (any Error)?
        do {
            try PartitionCapacity.checkRequest(adding: added)
            requestRefusal = nil
        } catch {
            requestRefusal = error
        }
        var results: [CreatePartitionsResponse.CreatePartitionsTopicResult] = []
        for topic in request.topics {
            var result = CreatePartitionsResponse.CreatePartitionsTopicResult(name: topic.name)
            do {
                if let requestRefusal { throw requestRefusal }
                _ = try await context.topics.addPartitions(
                    topic: topic.name, totalCount: topic.count, assignment: topic.assignments?.map(\.brokerIds),
                    validateOnly: request.validateOnly)
                if !request.validateOnly { context.logAdminChange("topic \(topic.name) now has \(topic.count) partitions", by: requestContext) }
            } catch {
                (result.errorCode, result.errorMessage) = kafkaError(for: error)
            }
            results.append(result)
        }
        return .response(CreatePartitionsResponse(results: results))
    }
}
