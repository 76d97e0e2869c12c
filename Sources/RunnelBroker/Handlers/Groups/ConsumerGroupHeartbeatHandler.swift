import RunnelCoordinator
import RunnelProtocol

/// ConsumerGroupHeartbeat (68), versions 0-1: the KIP-848 consumer protocol (librdkafka and
/// the Java client with group.protocol=consumer). Assignments travel by topic id.
struct ConsumerGroupHeartbeatHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...1
    let context: HandlerContext

    func handle(_ request: ConsumerGroupHeartbeatRequest, context requestContext: RequestContext)
        async -> HandlerReply<ConsumerGroupHeartbeatResponse>
    {
        if let code = await context.coordinatorError(for: request.groupId) {
            return .response(ConsumerGroupHeartbeatResponse(
                errorCode: code.rawValue, memberId: request.memberId, memberEpoch: request.memberEpoch, heartbeatIntervalMs: 0))
        }
        let topics = context.metadata.topics.filter { !$0.isInternal }
        let names = Dictionary(uniqueKeysWithValues: topics.map { ($0.id, $0.name) })
        let ids = Dictionary(uniqueKeysWithValues: topics.map { ($0.name, $0.id) })
        let owned = request.topicPartitions.map { list in
            list.flatMap { entry in
                names[entry.topicId].map { name in entry.partitions.map { GroupTopicPartition(topic: name, partition: $0) } } ?? []
            }
        }
        let heartbeat = GroupCoordinator.ConsumerHeartbeat(
            groupId: request.groupId, memberId: request.memberId, memberEpoch: request.memberEpoch, instanceId: request.instanceId,
            rackId: request.rackId, clientId: requestContext.clientId ?? "", clientHost: "/" + requestContext.client.hostPart,
            rebalanceTimeoutMs: request.rebalanceTimeoutMs, subscribedTopics: request.subscribedTopicNames, ownedPartitions: owned,
            serverAssignor: request.serverAssignor, subscribedTopicRegex: request.subscribedTopicRegex)
        let result = context.groups.consumerHeartbeat(
            heartbeat, partitionCounts: Dictionary(uniqueKeysWithValues: topics.map { ($0.name, $0.partitionCount) }))
        var response = ConsumerGroupHeartbeatResponse(
            errorCode: result.errorCode, errorMessage: result.errorMessage, memberId: result.memberId, memberEpoch: result.memberEpoch,
            heartbeatIntervalMs: Int32(context.groups.configs.heartbeatIntervalMs(of: request.groupId)))
        if let assignment = result.assignment {
            let byTopic = Dictionary(grouping: assignment, by: \.topic)
            response.assignment = .init(topicPartitions: byTopic.keys.sorted().compactMap { name in
                ids[name].map { .init(topicId: $0, partitions: byTopic[name]!.map(\.partition).sorted()) }
            })
        }
        return .response(response)
    }
}

/// ConsumerGroupDescribe (69), versions 0-1.
struct ConsumerGroupDescribeHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...1
    let context: HandlerContext

    func handle(_ request: ConsumerGroupDescribeRequest, context requestContext: RequestContext)
        async -> HandlerReply<ConsumerGroupDescribeResponse>
    {
        let ids = Dictionary(uniqueKeysWithValues: context.metadata.topics.map { ($0.name, $0.id) })
        func assignment(_ partitions: Set<GroupTopicPartition>) -> ConsumerGroupDescribeResponse.Assignment {
            let byTopic = Dictionary(grouping: partitions, by: \.topic)
            return .init(topicPartitions: byTopic.keys.sorted().map { name in
                .init(topicId: ids[name] ?? .zero, topicName: name, partitions: byTopic[name]!.map(\.partition).sorted())
            })
        }
        let operations = AuthorizedOperations.group(requested: request.includeAuthorizedOperations)
        return .response(ConsumerGroupDescribeResponse(groups: request.groupIds.map { groupId in
            guard let group = context.groups.describeConsumer(groupId) else {
                return .init(errorCode: KafkaErrorCode.groupIdNotFound.rawValue, errorMessage: "group \(groupId) is not a consumer-protocol group",
                             groupId: groupId, groupState: "Dead", assignorName: "")
            }
            return .init(
                groupId: groupId, groupState: group.stateName, groupEpoch: group.groupEpoch, assignmentEpoch: group.assignmentEpoch,
                assignorName: group.assignor,
                members: group.members.values.sorted { $0.memberId < $1.memberId }.map { member in
                    .init(memberId: member.memberId, instanceId: member.instanceId, rackId: member.rackId, memberEpoch: member.memberEpoch,
                          clientId: member.clientId, clientHost: member.clientHost, subscribedTopicNames: member.subscribedTopics,
                          subscribedTopicRegex: member.subscribedTopicRegex,
                          assignment: assignment(member.owned), targetAssignment: assignment(group.targetAssignment[member.memberId] ?? []))
                },
                authorizedOperations: operations)
        }))
    }
}
