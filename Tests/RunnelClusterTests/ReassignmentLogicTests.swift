import Foundation
import RunnelProtocol
import Testing
@testable import RunnelCluster

@Suite struct ReassignmentLogicTests {
    let all: Set<Int32> = [1, 2, 3, 4]

    func start(_ state: PartitionState, to target: [Int32]?, live: Set<Int32>? = nil) throws -> PartitionState {
        try #require(try ReassignmentLogic.reassign(state, to: target, registered: all, live: live ?? all).get())
    }

    @Test func aMoveWidensTheReplicasToTargetPlusCurrentAndWaitsForTheNewOnes() throws {
        let state = PartitionState(replicas: [1, 2, 3], leader: 1, leaderEpoch: 4, partitionEpoch: 9, isr: [1, 2, 3])
        let moving = try start(state, to: [2, 3, 4])
        #expect(moving == PartitionState(
            replicas: [2, 3, 4, 1], leader: 1, leaderEpoch: 4, partitionEpoch: 10, isr: [1, 2, 3], addingReplicas: [4], removingReplicas: [1]))
        // Not complete while broker 4 is not in sync.
        #expect(ReassignmentLogic.completion(of: moving, live: all) == nil)
    }

    @Test func onceEveryTargetReplicaIsInSyncTheOldOnesGoAndARemovedLeaderHandsOver() throws {
        var moving = try start(PartitionState(replicas: [1, 2, 3], leader: 1, leaderEpoch: 4, partitionEpoch: 9, isr: [1, 2, 3]), to: [2, 3, 4])
        moving.isr = [1, 2, 3, 4]  // the leader added broker 4 once it caught up
        moving.partitionEpoch = 11
        let done = try #require(ReassignmentLogic.completion(of: moving, live: all))
        #expect(done.replicas == [2, 3, 4])
        #expect(done.isr == [2, 3, 4])
        #expect(done.leader == 2)
        #expect(!done.isReassigning)
        // The controller writes it with the epochs a leader change needs.
        let image = MetadataImage(
            clusterId: "c", revision: 20,
            topicsByName: ["t": TopicMetadata(name: "t", id: .random(), partitionCount: 1, replicationFactor: 3)],
            partitions: [TopicPartition(topic: "t", partition: 0): VersionedPartitionState(state: moving, version: 15)],
            brokers: Dictionary(uniqueKeysWithValues: all.map { ($0, BrokerRegistration(brokerId: $0, host: "h", port: 1, incarnation: "")) }))
        let change = try #require(ControllerLogic.leadershipChanges(in: image).first)
        #expect(change.expectedVersion == 15)
        #expect(change.state == PartitionState(replicas: [2, 3, 4], leader: 2, leaderEpoch: 5, partitionEpoch: 12, isr: [2, 3, 4]))
    }

    @Test func aMoveThatOnlyDropsInSyncReplicasCompletesAtOnceKeepingItsLeaderInANewEpoch() throws {
        let state = PartitionState(replicas: [1, 2, 3], leader: 2, leaderEpoch: 4, partitionEpoch: 9, isr: [1, 2, 3])
        // A replica left: a new leader epoch fences its fetches and resets what the leader knew of it.
        #expect(try start(state, to: [2, 3]) == PartitionState(replicas: [2, 3], leader: 2, leaderEpoch: 5, partitionEpoch: 10, isr: [2, 3]))
        // Adding one back does not need a new epoch.
        let shrunk = try start(state, to: [2, 3])
        #expect(try start(shrunk, to: [2, 3, 1]).leaderEpoch == 5)
    }

    @Test func theControllerCompletingAMoveThatDropsAFollowerStartsANewLeaderEpoch() throws {
        var moving = try start(PartitionState(replicas: [1, 2], leader: 1, leaderEpoch: 3, partitionEpoch: 5, isr: [1, 2]), to: [1, 4])
        moving.isr = [1, 2, 4]
        let image = MetadataImage(
            clusterId: "c", revision: 20,
            topicsByName: ["t": TopicMetadata(name: "t", id: .random(), partitionCount: 1, replicationFactor: 2)],
            partitions: [TopicPartition(topic: "t", partition: 0): VersionedPartitionState(state: moving, version: 15)],
            brokers: Dictionary(uniqueKeysWithValues: all.map { ($0, BrokerRegistration(brokerId: $0, host: "h", port: 1, incarnation: "")) }))
        let change = try #require(ControllerLogic.leadershipChanges(in: image, rebalancePreferred: false).first)
        #expect(change.state.replicas == [1, 4] && change.state.leader == 1)
        #expect(change.state.leaderEpoch == 4, "broker 2's fetches are fenced and the leader forgets its progress")
    }

    @Test func aTargetThatIsWhereThePartitionIsChangesNothing() throws {
        let state = PartitionState(replicas: [1, 2], leader: 1, leaderEpoch: 0, partitionEpoch: 0, isr: [1, 2])
        #expect(try ReassignmentLogic.reassign(state, to: [1, 2], registered: all, live: all).get() == nil)
    }

    @Test func cancellingGoesBackToTheOriginalReplicas() throws {
        let state = PartitionState(replicas: [1, 2, 3], leader: 1, leaderEpoch: 4, partitionEpoch: 9, isr: [1, 2, 3])
        var moving = try start(state, to: [2, 3, 4])
        moving.isr = [1, 2, 3, 4]  // broker 4 had joined, but the move is called off
        let back = try start(moving, to: nil)
        // Kafka's order: the original replicas as the move listed them (target ones first).
        #expect(back == PartitionState(replicas: [2, 3, 1], leader: 1, leaderEpoch: 5, partitionEpoch: 11, isr: [1, 2, 3]))
        #expect(throws: ReassignmentLogic.Refusal.noReassignment) { try ReassignmentLogic.reassign(back, to: nil, registered: all, live: all).get() }
    }

    @Test func aNewTargetReplacesTheRunningMoveFromTheOriginalReplicas() throws {
        let state = PartitionState(replicas: [1, 2], leader: 1, leaderEpoch: 0, partitionEpoch: 0, isr: [1, 2])
        let first = try start(state, to: [3, 4])
        #expect(first.addingReplicas == [3, 4] && first.removingReplicas == [1, 2])
        let second = try start(first, to: [1, 3])
        #expect(second.replicas == [1, 3, 2])
        #expect(second.addingReplicas == [3])
        #expect(second.removingReplicas == [2])
    }

    @Test func badTargetsAreRefused() {
        let state = PartitionState(replicas: [1, 2], leader: 1, isr: [1, 2])
        for target: [Int32] in [[], [1, 1], [1, 9]] {
            #expect(throws: ReassignmentLogic.Refusal.self) { try ReassignmentLogic.reassign(state, to: target, registered: all, live: all).get() }
        }
        #expect(throws: ReassignmentLogic.Refusal.self) {
            try ReassignmentLogic.reassign(state, to: [1, 2, 3], registered: all, live: all, allowReplicationFactorChange: false).get()
        }
        #expect((try? ReassignmentLogic.reassign(state, to: [3, 4], registered: all, live: all, allowReplicationFactorChange: false).get()) != nil)
    }

    @Test func aStateWithoutAReassignmentIsStoredAndReadAsBefore() throws {
        let plain = PartitionState(replicas: [1, 2], leader: 1, leaderEpoch: 3, partitionEpoch: 5, isr: [1])
        let json = String(decoding: try JSONEncoder().encode(plain), as: UTF8.self)
        #expect(!json.contains("addingReplicas"))
        let old = #"{"replicas":[1,2],"leader":1,"leaderEpoch":3,"partitionEpoch":5,"isr":[1]}"#
        #expect(try JSONDecoder().decode(PartitionState.self, from: Data(old.utf8)) == plain)
        let moving = PartitionState(replicas: [3, 1, 2], leader: 1, isr: [1, 2], addingReplicas: [3], removingReplicas: [2])
        #expect(try JSONDecoder().decode(PartitionState.self, from: JSONEncoder().encode(moving)) == moving)
    }
}
