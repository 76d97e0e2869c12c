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
                let created = try await context.topics.create(
                    name: topic.name, partitions: topic.numPartitions, replicationFactor: topic.replicationFactor, configs: configs,
                    validateOnly: request.validateOnly, assignment: try manualAssignment(topic))
                result.topicId = created.id
                result.numPartitions = created.partitionCount
                result.replicationFactor = created.replicationFactor
                if !request.validateOnly {
                    let overrides = configs.isEmpty ? "" : ", configs " + configs.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                    context.logAdminChange(
                        "created topic \(created.name) (\(created.partitionCount) partitions, replication factor \(created.replicationFactor)\(overrides))",
                        by: requestContext)
                }
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

    /// The replica lists of a manual assignment in partition order, nil when there is none.
    /// As in Kafka: with an assignment, the partition count and replication factor must be -1,
    /// and the partition indices must be 0..<n, each once.
    private func manualAssignment(_ topic: CreateTopicsRequest.CreatableTopic) throws -> [[Int32]]? {
        guard !topic.assignments.isEmpty else { return nil }
        guard topic.numPartitions == -1, topic.replicationFactor == -1 else {
            throw ClusterMetadataError(.invalidRequest, "both a replica assignment and a partition count or replication factor were given")
        }
        let byIndex = Dictionary(topic.assignments.map { ($0.partitionIndex, $0.brokerIds) }, uniquingKeysWith: { first, _ in first })
        guard byIndex.count == topic.assignments.count, byIndex.keys.sorted() == Array(0..<Int32(byIndex.count)) else {
            throw ClusterMetadataError(.invalidReplicaAssignment, "the assignment's partition indices must be 0 to \(topic.assignments.count - 1), each once")
        }
        return (0..<Int32(byIndex.count)).map { byIndex[$0]! }
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
    /// A consumer group's own config (KIP-848's GROUP_CONFIG).
    static let group: Int8 = 8
}
