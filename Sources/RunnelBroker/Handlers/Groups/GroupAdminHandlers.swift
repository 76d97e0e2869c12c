import NIOCore
import RunnelCoordinator
import RunnelProtocol

/// ListGroups (16), versions 0-5, with the v4 state and v5 type filters.
struct ListGroupsHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...5
    let context: HandlerContext

    func handle(_ request: ListGroupsRequest, context requestContext: RequestContext) async -> HandlerReply<ListGroupsResponse> {
        let states = Set(request.statesFilter.map { $0.lowercased() })
        let types = Set(request.typesFilter.map { $0.lowercased() })
        let groups = context.groups.listing.filter { group in
            (states.isEmpty || states.contains(group.state.rawValue.lowercased())) && (types.isEmpty || types.contains("classic"))
        }
        return .response(ListGroupsResponse(groups: groups.map {
            .init(groupId: $0.groupId, protocolType: $0.protocolType, groupState: $0.state.rawValue, groupType: "classic")
        }))
    }
}

/// DescribeGroups (15), versions 0-5: state, protocol and every member with its subscription
/// and assignment. An unknown group is described as Dead, as Kafka does.
struct DescribeGroupsHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...5
    let context: HandlerContext

    func handle(_ request: DescribeGroupsRequest, context requestContext: RequestContext) async -> HandlerReply<DescribeGroupsResponse> {
        let operations = AuthorizedOperations.group(requested: request.includeAuthorizedOperations)
        return .response(DescribeGroupsResponse(groups: request.groups.map { groupId in
            guard let group = context.groups.describe(groupId) else {
                return .init(groupId: groupId, groupState: ClassicGroup.State.dead.rawValue, protocolType: "", protocolData: "",
                             authorizedOperations: operations)
            }
            return .init(
                groupId: groupId, groupState: group.state.rawValue, protocolType: group.protocolType ?? "consumer",
                protocolData: group.protocolName ?? "",
                members: group.members.values.sorted { $0.memberId < $1.memberId }.map { member in
                    .init(memberId: member.memberId, groupInstanceId: member.groupInstanceId, clientId: member.clientId,
                          clientHost: member.clientHost, memberMetadata: ByteBuffer(bytes: member.protocols.first { $0.name == group.protocolName }?.metadata ?? []),
                          memberAssignment: ByteBuffer(bytes: member.assignment))
                },
                authorizedOperations: operations)
        }))
    }
}

/// DeleteGroups (42), versions 0-2: groups without members, offsets included.
struct DeleteGroupsHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...2
    let context: HandlerContext

    func handle(_ request: DeleteGroupsRequest, context requestContext: RequestContext) async -> HandlerReply<DeleteGroupsResponse> {
        var results: [DeleteGroupsResponse.DeletableGroupResult] = []
        for groupId in request.groupsNames {
            let code = await context.groups.deleteGroup(groupId)
            if code == 0 { context.logAdminChange("deleted group \(groupId)", by: requestContext) }
            results.append(.init(groupId: groupId, errorCode: code))
        }
        return .response(DeleteGroupsResponse(results: results))
    }
}

/// OffsetDelete (47), version 0: drops committed offsets of a group that no longer has members.
struct OffsetDeleteHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...0
    let context: HandlerContext

    func handle(_ request: OffsetDeleteRequest, context requestContext: RequestContext) async -> HandlerReply<OffsetDeleteResponse> {
        let partitions = request.topics.flatMap { topic in topic.partitions.map { GroupTopicPartition(topic: topic.name, partition: $0.partitionIndex) } }
        let code = await context.groups.deleteOffsets(groupId: request.groupId, partitions: partitions)
        if code == 0 {
            context.logAdminChange(
                "deleted the committed offsets of group \(request.groupId) for \(partitions.count) partitions of \(Set(partitions.map(\.topic)).sorted().joined(separator: ","))",
                by: requestContext)
        }
        return .response(OffsetDeleteResponse(topics: request.topics.map { topic in
            .init(name: topic.name, partitions: topic.partitions.map { .init(partitionIndex: $0.partitionIndex, errorCode: code) })
        }))
    }
}
