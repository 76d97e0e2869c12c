import NIOCore
import RunnelProtocol
import Testing

/// The generated `forEachErrorCode` visits every error code of a response, nested ones
/// included: what the broker's `runnel_request_errors_total` counts.
@Suite struct ErrorCodeWalkTests {
    @Test func produceResponseVisitsEveryPartitionsCode() {
        let response = ProduceResponse(responses: [
            .init(name: "a", partitionResponses: [.init(index: 0, errorCode: 0), .init(index: 1, errorCode: 6)]),
            .init(name: "b", partitionResponses: [.init(index: 0, errorCode: 10)]),
        ])
        var codes: [Int16] = []
        response.forEachErrorCode(version: 9) { codes.append($0) }
        #expect(codes == [0, 6, 10])
    }

    @Test func metadataResponseVisitsTopicAndPartitionCodes() {
        let response = MetadataResponse(topics: [
            .init(errorCode: 3, name: "missing"),
            .init(errorCode: 0, name: "there", partitions: [.init(errorCode: 5, partitionIndex: 0)]),
        ])
        // Only the codes the version has: v13 added a top-level one, after the topics.
        var v12: [Int16] = []
        response.forEachErrorCode(version: 12) { v12.append($0) }
        #expect(v12 == [3, 0, 5])
        var v13: [Int16] = []
        response.forEachErrorCode(version: 13) { v13.append($0) }
        #expect(v13 == [3, 0, 5, 0])
    }

    @Test func aResponseWithOnlyATopLevelCodeVisitsIt() {
        var codes: [Int16] = []
        HeartbeatResponse(errorCode: 27).forEachErrorCode(version: 4) { codes.append($0) }
        #expect(codes == [27])
    }
}
