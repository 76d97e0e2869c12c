import RunnelProtocol

/// Heartbeat (12), versions 0-4: keeps a member's session alive and tells it of rebalances.
struct HeartbeatHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...4
    let context: HandlerContext

    func handle(_ request: HeartbeatRequest, context requestContext: RequestContext) async -> HandlerReply<HeartbeatResponse> {
        if let code = await context.coordinatorError(for: request.groupId) { return .response(HeartbeatResponse(errorCode: code.rawValue)) }
        return .response(HeartbeatResponse(errorCode: context.groups.heartbeat(
            groupId: request.groupId, memberId: request.memberId, generationId: request.generationId)))
    }
}

/// LeaveGroup (13), versions 0-5: one member (v0-2) or a batch by id or instance id (v3+).
struct LeaveGroupHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...5
    let context: HandlerContext

    func handle(_ request: LeaveGroupRequest, context requestContext: RequestContext) async -> HandlerReply<LeaveGroupResponse> {
        if let code = await context.coordinatorError(for: request.groupId) { return .response(LeaveGroupResponse(errorCode: code.rawValue)) }
        if requestContext.apiVersion < 3 {
            let errors = context.groups.leave(groupId: request.groupId, members: [(request.memberId, nil)])
            return .response(LeaveGroupResponse(errorCode: errors.first ?? 0))
        }
        let errors = context.groups.leave(groupId: request.groupId, members: request.members.map { ($0.memberId, $0.groupInstanceId) })
        return .response(LeaveGroupResponse(members: zip(request.members, errors).map {
            .init(memberId: $0.0.memberId, groupInstanceId: $0.0.groupInstanceId, errorCode: $0.1)
        }))
    }
}
