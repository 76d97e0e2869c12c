import RunnelProtocol
import Testing
@testable import RunnelCluster

@Suite struct ControllerLogicTests {
    let partition = TopicPartition(topic: "t", partition: 0)

    func image(_ state: PartitionState, live: [Int32]) -> MetadataImage {
        MetadataImage(
            clusterId: "c", revision: 10,
            topicsByName: ["t": TopicMetadata(name: "t", id: .random(), partitionCount: 1, replicationFactor: Int16(state.replicas.count))],
            partitions: [partition: VersionedPartitionState(state: state, version: 7)],
            brokers: Dictionary(uniqueKeysWithValues: live.map { ($0, BrokerRegistration(brokerId: $0, host: "h", port: 1, incarnation: "")) }))
    }

    @Test func nothingChangesWhileTheLeaderAndItsIsrAreLive() {
        let state = PartitionState(replicas: [1, 2, 3], leader: 1, leaderEpoch: 4, partitionEpoch: 9, isr: [1, 2])
        #expect(ControllerLogic.leadershipChanges(in: image(state, live: [1, 2, 3])).isEmpty)
    }

    @Test func aDeadLeaderIsReplacedByTheNextLiveIsrMemberWithANewEpoch() throws {
        let state = PartitionState(replicas: [1, 2, 3], leader: 1, leaderEpoch: 4, partitionEpoch: 9, isr: [1, 3])
        let change = try #require(ControllerLogic.leadershipChanges(in: image(state, live: [2, 3])).first)
        #expect(change.expectedVersion == 7)
        // Broker 2 is live but not in sync: never elected (no unclean election).
        #expect(change.state == PartitionState(replicas: [1, 2, 3], leader: 3, leaderEpoch: 5, partitionEpoch: 10, isr: [3]))
    }

    @Test func theLastIsrMemberDiesThePartitionGoesOfflineAndComesBackWithIt() throws {
        let led = PartitionState(replicas: [1, 2], leader: 1, leaderEpoch: 0, partitionEpoch: 0, isr: [1])
        let offline = try #require(ControllerLogic.leadershipChanges(in: image(led, live: [2])).first).state
        // The ISR keeps its last member: it alone holds everything acknowledged.
        #expect(offline == PartitionState(replicas: [1, 2], leader: -1, leaderEpoch: 1, partitionEpoch: 1, isr: [1]))
        #expect(ControllerLogic.leadershipChanges(in: image(offline, live: [2])).isEmpty)
        let back = try #require(ControllerLogic.leadershipChanges(in: image(offline, live: [1, 2])).first).state
        #expect(back == PartitionState(replicas: [1, 2], leader: 1, leaderEpoch: 2, partitionEpoch: 2, isr: [1]))
    }

    @Test func aDeadFollowerLeavesTheIsrWithoutALeaderChange() throws {
        let state = PartitionState(replicas: [1, 2, 3], leader: 1, leaderEpoch: 4, partitionEpoch: 9, isr: [1, 2, 3])
        let change = try #require(ControllerLogic.leadershipChanges(in: image(state, live: [1, 3])).first)
        #expect(change.state == PartitionState(replicas: [1, 2, 3], leader: 1, leaderEpoch: 4, partitionEpoch: 10, isr: [1, 3]))
    }

    @Test func thePreferredReplicaGetsItsLeadershipBackOnceLiveAndInSync() throws {
        let state = PartitionState(replicas: [1, 2], leader: 2, leaderEpoch: 3, partitionEpoch: 4, isr: [1, 2])
        let change = try #require(ControllerLogic.leadershipChanges(in: image(state, live: [1, 2])).first)
        #expect(change.state == PartitionState(replicas: [1, 2], leader: 1, leaderEpoch: 4, partitionEpoch: 5, isr: [1, 2]))
        #expect(ControllerLogic.leadershipChanges(in: image(state, live: [1, 2]), rebalancePreferred: false).isEmpty)
        // Not in sync: it stays a follower.
        let lagging = PartitionState(replicas: [1, 2], leader: 2, isr: [2])
        #expect(ControllerLogic.leadershipChanges(in: image(lagging, live: [1, 2])).isEmpty)
    }

    @Test func electLeadersPreferredAndUnclean() {
        let led = PartitionState(replicas: [1, 2], leader: 1, leaderEpoch: 2, isr: [1])
        #expect(ControllerLogic.election(.preferred, of: led, live: [1, 2]) == .notNeeded)
        #expect(ControllerLogic.election(.unclean, of: led, live: [1, 2]) == .notNeeded)
        let offline = PartitionState(replicas: [1, 2], leader: -1, leaderEpoch: 3, partitionEpoch: 5, isr: [1])
        guard case .notPossible = ControllerLogic.election(.preferred, of: offline, live: [2]) else {
            Issue.record("a dead preferred replica cannot be elected")
            return
        }
        // Unclean: only because the operator asks, and only with no live in-sync replica.
        #expect(ControllerLogic.election(.unclean, of: offline, live: [2])
            == .elect(PartitionState(replicas: [1, 2], leader: 2, leaderEpoch: 4, partitionEpoch: 6, isr: [2])))
        #expect(ControllerLogic.election(.unclean, of: offline, live: [1, 2])
            == .elect(PartitionState(replicas: [1, 2], leader: 1, leaderEpoch: 4, partitionEpoch: 6, isr: [1])))
        guard case .notPossible = ControllerLogic.election(.unclean, of: offline, live: []) else {
            Issue.record("nobody live: nobody to elect")
            return
        }
    }

    @Test func aTopicThatAllowsUncleanElectionGetsALiveOutOfSyncLeader() throws {
        let state = PartitionState(replicas: [1, 2], leader: 1, leaderEpoch: 0, partitionEpoch: 0, isr: [1])
        #expect(try #require(ControllerLogic.leadershipChanges(in: image(state, live: [2])).first).state.leader == -1)
        let unclean = try #require(ControllerLogic.leadershipChanges(in: image(state, live: [2]), uncleanAllowed: { _ in true }).first).state
        #expect(unclean == PartitionState(replicas: [1, 2], leader: 2, leaderEpoch: 1, partitionEpoch: 1, isr: [2]))
    }
}
