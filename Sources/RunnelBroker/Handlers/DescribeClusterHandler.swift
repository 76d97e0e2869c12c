import RunnelProtocol

/// DescribeCluster (60), versions 0-2: the live brokers and the controller.
struct DescribeClusterHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...2
    let context: HandlerContext

    func handle(_ request: DescribeClusterRequest, context requestContext: RequestContext) async -> HandlerReply<DescribeClusterResponse> {
        let image = context.metadata.image
        return .response(DescribeClusterResponse(
            endpointType: request.endpointType, clusterId: image.clusterId, controllerId: image.controllerId ?? -1,
            brokers: image.brokers.values.sorted { $0.brokerId < $1.brokerId }.map {
                .init(brokerId: $0.brokerId, host: $0.host, port: $0.port, rack: $0.rack)
            },
            clusterAuthorizedOperations: AuthorizedOperations.cluster(requested: request.includeClusterAuthorizedOperations)))
    }
}
