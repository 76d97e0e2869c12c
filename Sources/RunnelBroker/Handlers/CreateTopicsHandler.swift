import RunnelCluster
import RunnelProtocol

/// CreateTopics (19), versions 2-7: validated names, partition counts and configs; on v5+ the
/// answer carries the topic's partitions, replication factor and effective configs.
struct CreateTopicsHandler: APIHandler {
    let versions: ClosedRange<Int16> = 2...7
    let context: HandlerContext

    func handle(_ request: CreateTopicsRequest, context requestContext: RequestContext) async -> HandlerReply<CreateTopicsResponse> {
        // Kafka refuses the whole request, every topic with the same error, when all its topics
        // together ask for too many partitions.
        let requestRefusal: (any Error)?
        do {
            try PartitionCapacity.checkRequest(adding: partitionsRequested(request))
            requestRefusal = nil
        } catch {
            requestRefusal = error
        }
        var results: [CreateTopicsResponse.CreatableTopicResult] = []
        for topic in request.topics {
            var result = CreateTopicsResponse.CreatableTopicResult(name: topic.name, numPartitions: -1, replicationFactor: -1)
            let configs = Dictionary(topic.configs.map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
            do {
                if let requestRefusal { throw requestRefusal }
                guard topic.assignments.isEmpty else {
                    throw ClusterMetadataError(.invalidRequest, "manual replica assignment is not supported on a single broker")
                }
                let created = try await context.topics.create(
                    name: topic.name, partitions: topic.numPartitions, replicationFactor: topic.replicationFactor, configs: configs,
                    validateOnly: request.validateOnly)
                result.topicId = created.id
                result.numPartitions = created.partitionCount
                result.replicationFactor = created.replicationFactor
                result.configs = context.schema.effective(created.configs).map { entry in
                    .init(name: entry.entry.name, value: entry.value, readOnly: false,
                          configSource: entry.isOverride ? ConfigSource.dynamicTopic : ConfigSource.defaultConfig, isSensitive: false)
                }
            } catch {
                (result.errorCode, result.errorMessage) = kafkaError(for: error)
            }
            results.append(result)
        }
        return .response(CreateTopicsResponse(topics: results))
    }

    /// The partitions the request asks for over all its topics, as Kafka counts them: the
    /// broker default for -1, the assignments when there are some, nothing for invalid counts.
    private func partitionsRequested(_ request: CreateTopicsRequest) -> Int {
        request.topics.reduce(0) { total, topic in
            if !topic.assignments.isEmpty { return total + topic.assignments.count }
            if topic.numPartitions == -1 { return total + Int(context.config.numPartitions) }
            return total + max(0, Int(topic.numPartitions))
        }
    }
}

/// DescribeConfigs' config sources.
enum ConfigSource {
    static let dynamicTopic: Int8 = 1
    static let staticBroker: Int8 = 4
    static let defaultConfig: Int8 = 5
}
