import NIOCore
import RunnelProtocol

/// SyncGroup (14), versions 0-5: the leader hands in the assignment; every member gets its own.
struct SyncGroupHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...5
    let context: HandlerContext

    func handle(_ request: SyncGroupRequest, context requestContext: RequestContext) async -> HandlerReply<SyncGroupResponse> {
        if let code = await context.coordinatorError(for: request.groupId) {
            return .response(SyncGroupResponse(errorCode: code.rawValue, assignment: ByteBuffer()))
        }
        let assignments = Dictionary(request.assignments.map { ($0.memberId, Array($0.assignment.readableBytesView)) }, uniquingKeysWith: { $1 })
        let result = await context.groups.sync(
            groupId: request.groupId, memberId: request.memberId, generationId: request.generationId, assignments: assignments)
        return .response(SyncGroupResponse(
            errorCode: result.errorCode, protocolType: result.protocolType, protocolName: result.protocolName,
            assignment: ByteBuffer(bytes: result.assignment)))
    }
}
