import RunnelCluster
import RunnelProtocol

/// ElectLeaders (43), versions 0-2 (KIP-460): the preferred replica, or — explicitly — an
/// unclean leader for partitions without a live in-sync replica. A null partition list means
/// every partition.
struct ElectLeadersHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...2
    let context: HandlerContext

    func handle(_ request: ElectLeadersRequest, context requestContext: RequestContext) async -> HandlerReply<ElectLeadersResponse> {
        // v0 always asks for the preferred replica.
        guard let type = ControllerLogic.ElectionType(rawValue: requestContext.apiVersion >= 1 ? request.electionType : 0) else {
            return .response(ElectLeadersResponse(errorCode: KafkaErrorCode.invalidRequest.rawValue))
        }
        let wanted = request.topicPartitions.map { topics in
            topics.flatMap { topic in topic.partitions.map { TopicPartition(topic: topic.topic, partition: $0) } }
        }
        let outcomes = await context.elections.elect(type, wanted)
        let byTopic = Dictionary(grouping: outcomes.keys.sorted(), by: \.topic)
        return .response(ElectLeadersResponse(replicaElectionResults: byTopic.keys.sorted().map { topic in
            .init(topic: topic, partitionResult: byTopic[topic]!.map { partition in
                .init(partitionId: partition.partition, errorCode: outcomes[partition]!.code.rawValue, errorMessage: outcomes[partition]!.message)
            })
        }))
    }
}
