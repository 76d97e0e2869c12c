import RunnelCluster
import RunnelProtocol
import RunnelStorage

/// Metadata (3), versions 0-12: the live brokers, the controller, and the requested topics
/// (all, for a null list) with each partition's leader, leader epoch, replicas, ISR and
/// offline replicas, all from one applied metadata image; missing topics are created when
/// auto-creation is on.
struct MetadataHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...12
    let context: HandlerContext

    func handle(_ request: MetadataRequest, context requestContext: RequestContext) async -> HandlerReply<MetadataResponse> {
        // A null topic list (v1+), or an empty one in v0, asks for every topic.
        let everything = request.topics == nil || (requestContext.apiVersion == 0 && request.topics?.isEmpty == true)
        let mayCreate = !everything && context.config.autoCreateTopics
            && (requestContext.apiVersion < 4 || request.allowAutoTopicCreation)
        var created: Set<String> = []
        var refused: [String: KafkaErrorCode] = [:]
        if mayCreate {
            for entry in request.topics ?? [] {
                guard let name = entry.name, context.metadata.topic(named: name) == nil, TopicMetadata.validate(name: name) == nil
                else { continue }
                if name == GroupCoordinatorRuntime.offsetsTopic {
                    // Only ever with its own partition count, replication factor and configs.
                    await context.createOffsetsTopicIfReady()
                    continue
                }
                do {
                    _ = try await context.topics.create(name: name, partitions: -1, replicationFactor: -1, configs: [:])
                    created.insert(name)
                } catch let error as ClusterMetadataError where error.code == .topicAlreadyExists {
                    // Another client (or broker) created it first: describe it as it is.
                } catch let error as ClusterMetadataError {
                    refused[name] = error.code
                } catch {
                    context.logger.warning("auto-creating topic \(name) failed: \(error)")
                    refused[name] = .unknownServerError
                }
            }
        }
        let image = context.metadata.image
        var response = MetadataResponse(
            brokers: image.brokers.values.sorted { $0.brokerId < $1.brokerId }.map {
                MetadataResponse.MetadataResponseBroker(nodeId: $0.brokerId, host: $0.host, port: $0.port, rack: $0.rack)
            },
            clusterId: image.clusterId, controllerId: image.controllerId ?? -1,
            clusterAuthorizedOperations: AuthorizedOperations.cluster(requested: request.includeClusterAuthorizedOperations))
        let requested = everything
            ? image.topics.map { MetadataRequest.MetadataRequestTopic(topicId: $0.id, name: $0.name) }
            : request.topics ?? []
        for entry in requested {
            if let name = entry.name, created.contains(name) {
                // Kafka answers LEADER_NOT_AVAILABLE while a new topic's leaders are elected;
                // clients retry Metadata and find the topic ready.
                response.topics.append(MetadataResponse.MetadataResponseTopic(errorCode: KafkaErrorCode.leaderNotAvailable.rawValue, name: name))
            } else if let name = entry.name, let code = refused[name] {
                response.topics.append(MetadataResponse.MetadataResponseTopic(errorCode: code.rawValue, name: name))
            } else {
                response.topics.append(describe(entry, in: image, withOperations: request.includeTopicAuthorizedOperations))
            }
        }
        return .response(response)
    }

    private func describe(_ entry: MetadataRequest.MetadataRequestTopic, in image: MetadataImage, withOperations: Bool)
        -> MetadataResponse.MetadataResponseTopic
    {
        let known = entry.name.flatMap { image.topic(named: $0) } ?? (entry.topicId != .zero ? image.topic(id: entry.topicId) : nil)
        guard let topic = known else {
            guard let name = entry.name else {
                return MetadataResponse.MetadataResponseTopic(errorCode: KafkaErrorCode.unknownTopicId.rawValue, name: nil, topicId: entry.topicId)
            }
            let code = TopicMetadata.validate(name: name) == nil ? KafkaErrorCode.unknownTopicOrPartition : .invalidTopicException
            return MetadataResponse.MetadataResponseTopic(errorCode: code.rawValue, name: name)
        }
        let live = image.liveBrokerIds
        let partitions = image.partitions(of: topic).map { index, state in
            MetadataResponse.MetadataResponsePartition(
                errorCode: leaderAvailable(state, partition: TopicPartition(topic: topic.name, partition: index), live: live)
                    ? 0 : KafkaErrorCode.leaderNotAvailable.rawValue,
                partitionIndex: index, leaderId: state.leader, leaderEpoch: state.leaderEpoch, replicaNodes: state.replicas,
                isrNodes: state.isr, offlineReplicas: state.offlineReplicas(live: live))
        }
        return MetadataResponse.MetadataResponseTopic(
            errorCode: 0, name: topic.name, topicId: topic.id, isInternal: topic.isInternal, partitions: partitions,
            topicAuthorizedOperations: AuthorizedOperations.topic(requested: withOperations))
    }

    /// A partition can be used when its leader is live, and, when that is this broker, when
    /// its log is open here (one that failed to open answers LEADER_NOT_AVAILABLE).
    private func leaderAvailable(_ state: PartitionState, partition: TopicPartition, live: Set<Int32>) -> Bool {
        guard state.leader >= 0, live.contains(state.leader) else { return false }
        return state.leader != context.config.nodeId || context.replicas.partition(partition) != nil
    }
}
