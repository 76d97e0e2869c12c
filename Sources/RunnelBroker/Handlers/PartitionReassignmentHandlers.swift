import RunnelCluster
import RunnelProtocol

/// AlterPartitionReassignments (45), versions 0-1 (KIP-455): move a partition's replicas to
/// other brokers, or cancel a move (null replicas). Answers once the move has started; the
/// controller finishes it when the new replicas are in sync.
struct AlterPartitionReassignmentsHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...1
    let context: HandlerContext

    func handle(
        _ request: AlterPartitionReassignmentsRequest, context requestContext: RequestContext
    ) async -> HandlerReply<AlterPartitionReassignmentsResponse> {
        var targets: [TopicPartition: [Int32]?] = [:]
        for topic in request.topics {
            for partition in topic.partitions {
                targets[TopicPartition(topic: topic.name, partition: partition.partitionIndex)] = .some(partition.replicas)
            }
        }
        // v0 has no such field and always allowed it.
        let allowChange = requestContext.apiVersion < 1 || request.allowReplicationFactorChange
        let outcomes = await context.reassignments.reassign(targets, allowReplicationFactorChange: allowChange)
        return .response(AlterPartitionReassignmentsResponse(
            allowReplicationFactorChange: allowChange,
            responses: request.topics.map { topic in
                .init(name: topic.name, partitions: topic.partitions.map { partition in
                    let outcome = outcomes[TopicPartition(topic: topic.name, partition: partition.partitionIndex)]
                    return .init(
                        partitionIndex: partition.partitionIndex, errorCode: outcome?.code.rawValue ?? KafkaErrorCode.unknownServerError.rawValue,
                        errorMessage: outcome?.message)
                })
            }))
    }
}

/// ListPartitionReassignments (46), version 0: the partitions that are moving (all, or among
/// the named ones), with their replicas and those being added and removed.
struct ListPartitionReassignmentsHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...0
    let context: HandlerContext

    func handle(
        _ request: ListPartitionReassignmentsRequest, context requestContext: RequestContext
    ) async -> HandlerReply<ListPartitionReassignmentsResponse> {
        let wanted = request.topics.map { topics in
            topics.flatMap { topic in topic.partitionIndexes.map { TopicPartition(topic: topic.name, partition: $0) } }
        }
        let ongoing = context.reassignments.ongoing(among: wanted)
        let byTopic = Dictionary(grouping: ongoing, by: \.0.topic)
        return .response(ListPartitionReassignmentsResponse(topics: byTopic.keys.sorted().map { topic in
            .init(name: topic, partitions: byTopic[topic]!.map { partition, state in
                .init(
                    partitionIndex: partition.partition, replicas: state.replicas, addingReplicas: state.addingReplicas,
                    removingReplicas: state.removingReplicas)
            })
        }))
    }
}
