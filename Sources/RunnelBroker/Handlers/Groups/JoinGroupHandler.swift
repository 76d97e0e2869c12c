import NIOCore
import RunnelCoordinator
import RunnelProtocol

/// JoinGroup (11), versions 0-9, classic protocol. Held until the rebalance's join phase
/// completes; from v4 an unknown member first gets MEMBER_ID_REQUIRED with its id (KIP-394).
struct JoinGroupHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...9
    let context: HandlerContext

    func handle(_ request: JoinGroupRequest, context requestContext: RequestContext) async -> HandlerReply<JoinGroupResponse> {
        if let code = await context.coordinatorError(for: request.groupId) {
            return .response(JoinGroupResponse(
                errorCode: code.rawValue, generationId: -1, protocolName: requestContext.apiVersion >= 7 ? nil : "", leader: "",
                memberId: request.memberId))
        }
        let join = GroupCoordinator.JoinRequest(
            groupId: request.groupId, memberId: request.memberId, groupInstanceId: request.groupInstanceId,
            clientId: requestContext.clientId ?? "", clientHost: "/" + requestContext.client.hostPart,
            protocolType: request.protocolType,
            protocols: request.protocols.map { .init(name: $0.name, metadata: Array($0.metadata.readableBytesView)) },
            sessionTimeoutMs: request.sessionTimeoutMs,
            rebalanceTimeoutMs: requestContext.apiVersion >= 1 ? request.rebalanceTimeoutMs : request.sessionTimeoutMs,
            requireKnownMemberId: requestContext.apiVersion >= 4)
        let result = await context.groups.join(join)
        return .response(JoinGroupResponse(
            errorCode: result.errorCode, generationId: result.generationId, protocolType: result.protocolType,
            protocolName: result.protocolName ?? (requestContext.apiVersion >= 7 ? nil : ""), leader: result.leader,
            memberId: result.memberId,
            members: result.members.map { .init(memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, metadata: ByteBuffer(bytes: $0.metadata)) }))
    }
}

extension String {
    /// The host of a peer address as connections name it: "127.0.0.1:5000" → "127.0.0.1",
    /// "[::1]:5000" → "::1".
    var hostPart: String {
        guard let colon = lastIndex(of: ":") else { return self }
        let host = self[..<colon]
        return host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : String(host)
    }
}
