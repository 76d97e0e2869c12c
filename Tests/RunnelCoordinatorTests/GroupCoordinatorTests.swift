@testable import RunnelCoordinator
import Testing

/// The coordinator driven by hand-made requests and a hand-moved clock: no sockets, no sleeps.
@Suite struct GroupCoordinatorTests {
    var coordinator = GroupCoordinator(config: GroupCoordinator.Config())
    var nextRequest = 0

    static let range = ClassicGroup.MemberProtocol(name: "range", metadata: [1, 2, 3])

    func joinRequest(_ memberId: String, group: String = "g", instance: String? = nil) -> GroupCoordinator.JoinRequest {
        .init(groupId: group, memberId: memberId, groupInstanceId: instance, clientId: "client", clientHost: "/127.0.0.1",
              protocolType: "consumer", protocols: [Self.range], sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 60_000,
              requireKnownMemberId: true)
    }

    mutating func join(_ memberId: String, now: Int64, instance: String? = nil) -> (id: Int, actions: [GroupCoordinator.Action]) {
        nextRequest += 1
        return (nextRequest, coordinator.join(joinRequest(memberId, instance: instance), id: nextRequest, now: now))
    }

    /// The member id a MEMBER_ID_REQUIRED answer handed out.
    mutating func newMember(now: Int64) -> String {
        let (id, actions) = join("", now: now)
        guard case .completeJoin(id, let result)? = actions.first, result.errorCode == 79 else {
            Issue.record("expected MEMBER_ID_REQUIRED, got \(actions)")
            return ""
        }
        return result.memberId
    }

    func joins(_ actions: [GroupCoordinator.Action]) -> [Int: GroupCoordinator.JoinResult] {
        Dictionary(uniqueKeysWithValues: actions.compactMap { if case .completeJoin(let id, let result) = $0 { (id, result) } else { nil } })
    }

    @Test mutating func aNewGroupWaitsTheInitialDelayThenCompletes() {
        let a = newMember(now: 0)
        let (joinA, parked) = join(a, now: 10)
        #expect(parked.isEmpty, "the first generation waits group.initial.rebalance.delay.ms")
        #expect(coordinator.tick(now: 2_999).isEmpty)
        let done = joins(coordinator.tick(now: 3_010))
        #expect(done[joinA]?.errorCode == 0)
        #expect(done[joinA]?.generationId == 1)
        #expect(done[joinA]?.leader == a)
        #expect(done[joinA]?.members.map(\.metadata) == [[1, 2, 3]])
        #expect(coordinator.groups["g"]?.state == .completingRebalance)
        #expect(coordinator.nextDeadline != nil)
    }

    @Test mutating func aRebalanceCompletesAsSoonAsKnownMembersRejoin() {
        let a = newMember(now: 0)
        _ = join(a, now: 0)
        _ = coordinator.tick(now: 3_000)
        // The leader syncs with its assignment: stable.
        nextRequest += 1
        let sync = coordinator.sync(groupId: "g", memberId: a, generationId: 1, assignments: [a: [9]], id: nextRequest, now: 3_001)
        #expect(sync == [
            .completeSync(nextRequest, .init(errorCode: 0, protocolType: "consumer", protocolName: "range", assignment: [9])),
            .persistGroup("g"),
        ])

        // A second member joins: the first hears of it through its heartbeat and rejoins.
        let b = newMember(now: 4_000)
        let (joinB, waiting) = join(b, now: 4_000)
        #expect(waiting.isEmpty)
        #expect(coordinator.heartbeat(groupId: "g", memberId: a, generationId: 1, now: 4_100) == 27)  // REBALANCE_IN_PROGRESS
        let (rejoinA, done) = join(a, now: 4_200)
        let results = joins(done)
        // Both answered at once, not at the 60 s rebalance timeout.
        #expect(results[rejoinA]?.generationId == 2 && results[joinB]?.generationId == 2)
        #expect(results[rejoinA]?.leader == a && results[rejoinA]?.members.count == 2)
        #expect(results[joinB]?.members.isEmpty == true)

        // The follower's sync waits for the leader's.
        nextRequest += 1
        let followerSync = nextRequest
        #expect(coordinator.sync(groupId: "g", memberId: b, generationId: 2, assignments: [:], id: followerSync, now: 4_300).isEmpty)
        nextRequest += 1
        let released = coordinator.sync(groupId: "g", memberId: a, generationId: 2, assignments: [a: [1], b: [2]], id: nextRequest, now: 4_400)
        #expect(released.count == 3 && released.last == .persistGroup("g"))
        #expect(released.contains(.completeSync(followerSync, .init(errorCode: 0, protocolType: "consumer", protocolName: "range", assignment: [2]))))
        #expect(coordinator.groups["g"]?.state == .stable)
        #expect(coordinator.heartbeat(groupId: "g", memberId: b, generationId: 1, now: 4_500) == 22)  // ILLEGAL_GENERATION
        #expect(coordinator.heartbeat(groupId: "g", memberId: "stranger", generationId: 2, now: 4_500) == 25)  // UNKNOWN_MEMBER_ID
    }

    @Test mutating func aSilentMemberExpiresAndTheOthersRebalance() {
        let a = newMember(now: 0)
        _ = join(a, now: 0)
        let b = newMember(now: 0)
        _ = join(b, now: 0)
        _ = coordinator.tick(now: 3_000)
        nextRequest += 1
        _ = coordinator.sync(groupId: "g", memberId: a, generationId: 1, assignments: [:], id: nextRequest, now: 3_000)
        // Only a keeps heartbeating.
        for now in stride(from: Int64(4_000), through: 13_000, by: 1_000) {
            #expect(coordinator.heartbeat(groupId: "g", memberId: a, generationId: 1, now: now) == 0)
            #expect(coordinator.tick(now: now).isEmpty)
        }
        _ = coordinator.tick(now: 13_001)
        #expect(coordinator.groups["g"]?.members.keys.sorted() == [a])
        #expect(coordinator.heartbeat(groupId: "g", memberId: a, generationId: 1, now: 13_100) == 27)
        let (rejoin, done) = join(a, now: 13_200)
        #expect(joins(done)[rejoin]?.generationId == 2)
    }

    @Test mutating func leavingTriggersARebalanceAndAnEmptyGroupCanBeDeleted() {
        let a = newMember(now: 0)
        _ = join(a, now: 0)
        _ = coordinator.tick(now: 3_000)
        #expect(coordinator.deleteGroup("g").errorCode == 68)  // NON_EMPTY_GROUP
        let (errors, _) = coordinator.leave(groupId: "g", members: [(a, nil), ("ghost", nil)], now: 3_500)
        #expect(errors == [0, 25])
        #expect(coordinator.groups["g"]?.state == .empty)
        #expect(coordinator.deleteGroup("g").errorCode == 0)
        #expect(coordinator.deleteGroup("g").errorCode == 69)  // GROUP_ID_NOT_FOUND
    }

    @Test mutating func committedOffsetsComeBackFromTheirRecords() {
        let partition = GroupTopicPartition(topic: "t", partition: 3)
        #expect(coordinator.validateCommit(groupId: "simple", memberId: "", generationId: -1) == 0)
        let records = coordinator.commitRecords(
            groupId: "simple", offsets: [partition: .init(offset: 42, leaderEpoch: 0, metadata: "m", commitTimestamp: 7)])
        // Round trip through the stored bytes, as a restart would read them.
        var restarted = GroupCoordinator(config: .init())
        for record in records {
            let decoded = CoordinatorRecord(key: record.key, value: record.value)
            #expect(decoded == record)
            restarted.replay(decoded!)
        }
        #expect(restarted.committedOffsets(groupId: "simple", partitions: nil)[partition]?.offset == 42)
        #expect(restarted.listing.map(\.groupId) == ["simple"])
        let (code, tombstones) = restarted.deleteGroup("simple")
        // One tombstone for the offset, one for the group's metadata.
        #expect(code == 0 && tombstones.count == 2 && tombstones.allSatisfy { $0.value == nil })
        for tombstone in tombstones { restarted.replay(CoordinatorRecord(key: tombstone.key, value: tombstone.value)!) }
        #expect(restarted.committedOffsets(groupId: "simple", partitions: nil).isEmpty)
    }

    @Test mutating func offsetsOfEmptyGroupsExpire() {
        let partition = GroupTopicPartition(topic: "t", partition: 0)
        for record in coordinator.commitRecords(groupId: "idle", offsets: [partition: .init(offset: 5, leaderEpoch: 0, metadata: nil, commitTimestamp: 1_000)]) {
            coordinator.replay(record)
        }
        #expect(coordinator.expiredOffsetsRecords(now: 60_000, retentionMs: 60_000).isEmpty)
        let expired = coordinator.expiredOffsetsRecords(now: 61_001, retentionMs: 60_000)
        #expect(expired.map(\.groupId) == ["idle"])
        #expect(expired[0].records == [.offsetCommit(groupId: "idle", partition: partition, value: nil)])
    }

    @Test mutating func aStableGroupComesBackFromItsRecordAfterARestart() {
        let a = newMember(now: 0)
        _ = join(a, now: 0)
        _ = coordinator.tick(now: 3_000)
        nextRequest += 1
        let actions = coordinator.sync(groupId: "g", memberId: a, generationId: 1, assignments: [a: [7, 7]], id: nextRequest, now: 3_001)
        #expect(actions.contains(.persistGroup("g")))
        let record = try! #require(coordinator.groupMetadataRecord("g"))
        var restarted = GroupCoordinator(config: .init())
        restarted.replay(CoordinatorRecord(key: record.key, value: record.value)!, loadingAt: 50_000)
        let group = try! #require(restarted.groups["g"])
        #expect(group.state == .stable && group.generationId == 1 && group.leaderId == a)
        #expect(group.members[a]?.assignment == [7, 7])
        // The member carries on with its generation: no rebalance needed.
        #expect(restarted.heartbeat(groupId: "g", memberId: a, generationId: 1, now: 50_100) == 0)
        // Replaying the record while running changes nothing (the live state is newer).
        coordinator.replay(record)
        #expect(coordinator.groups["g"]?.state == .stable)
    }

    @Test mutating func aRetriedJoinAnswersTheParkedOne() {
        let a = newMember(now: 0)
        let (firstJoin, parked) = join(a, now: 0)
        #expect(parked.isEmpty)
        // The client gave up on its first JoinGroup and sent another: the first is answered.
        let (_, actions) = join(a, now: 100)
        #expect(joins(actions)[firstJoin]?.errorCode == 27)
    }

    @Test mutating func commitsAreCheckedAgainstTheGeneration() {
        let a = newMember(now: 0)
        _ = join(a, now: 0)
        _ = coordinator.tick(now: 3_000)
        #expect(coordinator.validateCommit(groupId: "g", memberId: a, generationId: 1) == 0)
        #expect(coordinator.validateCommit(groupId: "g", memberId: a, generationId: 0) == 22)
        #expect(coordinator.validateCommit(groupId: "g", memberId: "x", generationId: 1) == 25)
        #expect(coordinator.validateCommit(groupId: "g", memberId: "", generationId: -1) == 25)
    }

    @Test mutating func aStaticMemberRejoinsUnderItsInstanceId() {
        let (first, _) = join("", now: 0, instance: "pod-1")
        _ = first
        let id = coordinator.groups["g"]!.pendingMembers.keys.first!
        _ = join(id, now: 0, instance: "pod-1")
        _ = coordinator.tick(now: 3_000)
        // Restarted with no member id but the same instance id: it takes the old membership.
        let (rejoin, actions) = join("", now: 5_000, instance: "pod-1")
        #expect(coordinator.groups["g"]!.members.count == 1)
        let result = joins(actions)[rejoin] ?? joins(coordinator.tick(now: 5_001))[rejoin]
        #expect(result?.errorCode == 0)
        #expect(result?.memberId != id)
    }

    /// A coordinator that stops leading a group's `__consumer_offsets` partition forgets the
    /// group and answers its parked requests NOT_COORDINATOR; other groups stay.
    @Test mutating func unloadingForgetsTheGroupsAndReleasesTheirParkedRequests() {
        let a = newMember(now: 0)
        let (parkedJoin, waiting) = join(a, now: 10)
        #expect(waiting.isEmpty)
        coordinator.replay(.offsetCommit(groupId: "g", partition: GroupTopicPartition(topic: "t", partition: 0),
                                         value: OffsetAndMetadata(offset: 5, leaderEpoch: -1, metadata: "", commitTimestamp: 1)))
        coordinator.replay(.offsetCommit(groupId: "other", partition: GroupTopicPartition(topic: "t", partition: 0),
                                         value: OffsetAndMetadata(offset: 7, leaderEpoch: -1, metadata: "", commitTimestamp: 1)))
        let actions = coordinator.unload { $0 == "g" }
        #expect(joins(actions)[parkedJoin]?.errorCode == 16)
        #expect(coordinator.groups["g"] == nil)
        #expect(coordinator.committedOffsets(groupId: "g", partitions: nil).isEmpty)
        #expect(coordinator.committedOffsets(groupId: "other", partitions: nil).values.map(\.offset) == [7])
    }
}
