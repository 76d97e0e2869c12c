import RunnelCluster
import RunnelProtocol
import RunnelStorage

/// Metadata (3), versions 0-12: this broker as the only broker and controller, and the
/// requested topics (all, for a null list), creating missing ones when auto-creation is on.
struct MetadataHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...12
    let context: HandlerContext

    func handle(_ request: MetadataRequest, context requestContext: RequestContext) async -> HandlerReply<MetadataResponse> {
        let (host, port) = context.config.advertised
        var response = MetadataResponse(
            brokers: [MetadataResponse.MetadataResponseBroker(nodeId: context.config.nodeId, host: host, port: Int32(port), rack: nil)],
            clusterId: context.metadata.clusterId, controllerId: context.config.nodeId)
        // A null topic list (v1+), or an empty one in v0, asks for every topic.
        let everything = request.topics == nil || (requestContext.apiVersion == 0 && request.topics?.isEmpty == true)
        let requested = everything
            ? context.metadata.topics.map { MetadataRequest.MetadataRequestTopic(topicId: $0.id, name: $0.name) }
            : request.topics ?? []
        let mayCreate = !everything && context.config.autoCreateTopics
            && (requestContext.apiVersion < 4 || request.allowAutoTopicCreation)
        for entry in requested {
            response.topics.append(describe(entry, mayCreate: mayCreate))
        }
        return .response(response)
    }

    private func describe(_ entry: MetadataRequest.MetadataRequestTopic, mayCreate: Bool) -> MetadataResponse.MetadataResponseTopic {
        let known = entry.name.flatMap { context.metadata.topic(named: $0) } ?? (entry.topicId != .zero ? context.metadata.topic(id: entry.topicId) : nil)
        guard let topic = known else {
            guard let name = entry.name else {
                return MetadataResponse.MetadataResponseTopic(errorCode: KafkaErrorCode.unknownTopicId.rawValue, name: nil, topicId: entry.topicId)
            }
            if mayCreate {
                do {
                    _ = try context.topics.create(name: name, partitions: -1, replicationFactor: -1, configs: [:])
                    // Kafka answers LEADER_NOT_AVAILABLE while a new topic's leaders are elected;
                    // clients retry Metadata and find the topic ready.
                    return MetadataResponse.MetadataResponseTopic(errorCode: KafkaErrorCode.leaderNotAvailable.rawValue, name: name)
                } catch let error as ClusterMetadataError {
                    return MetadataResponse.MetadataResponseTopic(errorCode: error.code.rawValue, name: name)
                } catch {
                    return MetadataResponse.MetadataResponseTopic(errorCode: KafkaErrorCode.unknownServerError.rawValue, name: name)
                }
            }
            let code = TopicMetadata.validate(name: name) == nil ? KafkaErrorCode.unknownTopicOrPartition : .invalidTopicException
            return MetadataResponse.MetadataResponseTopic(errorCode: code.rawValue, name: name)
        }
        let brokerId = context.config.nodeId
        let partitions = (0..<topic.partitionCount).map { index in
            let partition = context.replicas.partition(TopicPartition(topic: topic.name, partition: index))
            return MetadataResponse.MetadataResponsePartition(
                errorCode: partition == nil ? KafkaErrorCode.leaderNotAvailable.rawValue : 0, partitionIndex: index,
                leaderId: brokerId, leaderEpoch: partition?.leaderEpoch ?? 0, replicaNodes: [brokerId], isrNodes: [brokerId],
                offlineReplicas: [])
        }
        return MetadataResponse.MetadataResponseTopic(
            errorCode: 0, name: topic.name, topicId: topic.id, isInternal: topic.isInternal, partitions: partitions)
    }
}
