import NIOCore
import RunnelCluster
import RunnelProtocol
import Testing
@testable import RunnelBroker

/// KIP-951: a produce refused with NOT_LEADER_OR_FOLLOWER says where the leader is now.
@Suite struct ProduceLeaderHintTests {
    @Test func refusedPartitionsNameTheirLeaderAndItsEndpointSurvivesTheWire() throws {
        var image = MetadataImage(clusterId: "c", revision: 1)
        image.topicsByName["t"] = TopicMetadata(name: "t", id: .random(), partitionCount: 2, replicationFactor: 1)
        image.partitions[TopicPartition(topic: "t", partition: 0)] = VersionedPartitionState(
            state: PartitionState(replicas: [3], leader: 3, leaderEpoch: 7, isr: [3]), version: 1)
        image.partitions[TopicPartition(topic: "t", partition: 1)] = VersionedPartitionState(state: .initial(replicas: [1]), version: 1)
        image.brokers[3] = BrokerRegistration(brokerId: 3, host: "10.0.0.3", port: 9092, rack: "r1", incarnation: "x")
        image.brokers[1] = BrokerRegistration(brokerId: 1, host: "10.0.0.1", port: 9092, incarnation: "y")
        var response = ProduceResponse(responses: [.init(name: "t", partitionResponses: [
            .init(index: 0, errorCode: KafkaErrorCode.notLeaderOrFollower.rawValue),
            .init(index: 1, errorCode: 0, baseOffset: 5),
        ])])
        ProduceHandler.addLeaderHints(to: &response, image: image)

        var buffer = ByteBuffer()
        response.encode(to: &buffer, version: 11)
        let decoded = try ProduceResponse(from: &buffer, version: 11)
        let partitions = decoded.responses[0].partitionResponses
        #expect(partitions[0].currentLeader.leaderId == 3 && partitions[0].currentLeader.leaderEpoch == 7)
        #expect(partitions[1].currentLeader.leaderId == -1)  // answered: no hint
        #expect(decoded.nodeEndpoints.map(\.nodeId) == [3])
        #expect(decoded.nodeEndpoints.first?.host == "10.0.0.3" && decoded.nodeEndpoints.first?.rack == "r1")
    }
}
