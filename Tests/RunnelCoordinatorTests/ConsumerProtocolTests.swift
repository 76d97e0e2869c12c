@testable import RunnelCoordinator
import Testing

/// KIP-848 reconciliation driven by hand-made heartbeats.
@Suite struct ConsumerProtocolTests {
    var coordinator = GroupCoordinator(config: .init())
    let counts: [String: Int32] = ["t": 4]

    mutating func beat(_ member: String, epoch: Int32, owned: [Int32]? = nil, now: Int64 = 0) -> GroupCoordinator.ConsumerHeartbeatResult {
        coordinator.consumerHeartbeat(
            .init(groupId: "g", memberId: member, memberEpoch: epoch, instanceId: nil, rackId: nil, clientId: "c", clientHost: "/h",
                  rebalanceTimeoutMs: 30_000, subscribedTopics: epoch == 0 ? ["t"] : nil,
                  ownedPartitions: owned.map { $0.map { GroupTopicPartition(topic: "t", partition: $0) } }),
            partitionCounts: counts, now: now)
    }

    func partitions(_ result: GroupCoordinator.ConsumerHeartbeatResult) -> [Int32]? {
        result.assignment?.map(\.partition)
    }

    @Test mutating func partitionsMoveOnlyAfterTheOldOwnerGivesThemUp() {
        let first = beat("a", epoch: 0, owned: [])
        #expect(first.errorCode == 0 && partitions(first) == [0, 1, 2, 3] && first.memberEpoch == 1)

        // b joins: nothing to revoke, so it moves to epoch 2 at once, but its target half is
        // still owned by a ("unreleased"): it gets nothing yet.
        let joined = beat("b", epoch: 0, owned: [])
        #expect(joined.memberEpoch == 2 && partitions(joined) == [])
        // a is told to give up the other half; its epoch stays until it has.
        let revoke = beat("a", epoch: 1, owned: [0, 1, 2, 3])
        #expect(revoke.memberEpoch == 1 && partitions(revoke)?.count == 2)
        let kept = partitions(revoke)!
        // b still gets nothing: a has not confirmed yet.
        #expect(partitions(beat("b", epoch: 2)) == nil)
        // a confirms; now it is at the new epoch, and b gets the rest.
        let confirmed = beat("a", epoch: 1, owned: kept)
        #expect(confirmed.memberEpoch == 2)
        let gained = beat("b", epoch: 2, owned: [])
        #expect(gained.memberEpoch == 2 && Set(partitions(gained)!) == Set([0, 1, 2, 3]).subtracting(kept))
        #expect(coordinator.consumerGroups["g"]?.stateName == "Reconciling")
        _ = beat("b", epoch: 2, owned: partitions(gained))
        #expect(coordinator.consumerGroups["g"]?.stateName == "Stable")

        // Commits are checked against the member epoch.
        #expect(coordinator.validateCommit(groupId: "g", memberId: "b", generationId: 2) == 0)
        #expect(coordinator.validateCommit(groupId: "g", memberId: "b", generationId: 1) == 113)
        #expect(coordinator.validateCommit(groupId: "g", memberId: "zed", generationId: 2) == 25)
    }

    @Test mutating func staleEpochsAreFencedAndLeavingHandsPartitionsBack() {
        _ = beat("a", epoch: 0, owned: [])
        #expect(beat("a", epoch: 7).errorCode == 110)  // FENCED_MEMBER_EPOCH
        #expect(beat("ghost", epoch: 3).errorCode == 25)  // UNKNOWN_MEMBER_ID
        let joined = beat("b", epoch: 0, owned: [])
        let left = beat("a", epoch: -1)
        #expect(left.errorCode == 0 && left.memberEpoch == -1)
        let all = beat("b", epoch: joined.memberEpoch, owned: [])
        #expect(Set(partitions(all) ?? []) == [0, 1, 2, 3])
    }

    @Test mutating func theRangeAssignorDealsConsecutiveRanges() {
        let counts: [String: Int32] = ["t": 5]
        for member in ["a", "b"] {
            _ = coordinator.consumerHeartbeat(
                .init(groupId: "r", memberId: member, memberEpoch: 0, instanceId: nil, rackId: nil, clientId: "c", clientHost: "/h",
                      rebalanceTimeoutMs: 30_000, subscribedTopics: ["t"], ownedPartitions: [], serverAssignor: "range"),
                partitionCounts: counts, now: 0)
        }
        let group = coordinator.consumerGroups["r"]!
        #expect(group.assignor == "range")
        #expect(group.targetAssignment["a"]!.map(\.partition).sorted() == [0, 1, 2])
        #expect(group.targetAssignment["b"]!.map(\.partition).sorted() == [3, 4])
    }

    @Test mutating func silentMembersExpire() {
        _ = beat("a", epoch: 0, owned: [], now: 0)
        coordinator.expireConsumerMembers(now: 45_001, sessionTimeoutMs: { _ in 45_000 })
        #expect(coordinator.consumerGroups["g"]?.members.isEmpty == true)
        #expect(coordinator.consumerGroups["g"]?.stateName == "Empty")
    }
}
