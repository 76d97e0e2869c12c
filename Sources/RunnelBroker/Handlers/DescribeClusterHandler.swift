import RunnelProtocol

/// DescribeCluster (60), versions 0-2: this broker, also the controller.
struct DescribeClusterHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...2
    let context: HandlerContext

    func handle(_ request: DescribeClusterRequest, context requestContext: RequestContext) async -> HandlerReply<DescribeClusterResponse> {
        let (host, port) = context.config.advertised
        return .response(DescribeClusterResponse(
            endpointType: request.endpointType, clusterId: context.metadata.clusterId, controllerId: context.config.nodeId,
            brokers: [.init(brokerId: context.config.nodeId, host: host, port: Int32(port), rack: nil)]))
    }
}
