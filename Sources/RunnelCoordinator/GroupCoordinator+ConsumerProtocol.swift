/// The KIP-848 consumer protocol (ConsumerGroupHeartbeat): membership, the server-side
/// assignment, and the reconciliation that moves each member to its target one heartbeat at a
/// time — a partition is handed to its new owner only after the old owner stopped owning it.
extension GroupCoordinator {
    public struct ConsumerHeartbeat: Sendable {
        public var groupId: String
        public var memberId: String
        public var memberEpoch: Int32
        public var instanceId: String?
        public var rackId: String?
        public var clientId: String
        public var clientHost: String
        public var rebalanceTimeoutMs: Int32
        /// nil: unchanged since the last heartbeat.
        public var subscribedTopics: [String]?
        /// A regular expression topics are subscribed by, resolved here (v1+); nil: unchanged
        /// since the last heartbeat; "": none any more.
        public var subscribedTopicRegex: String?
        /// nil: unchanged since the last heartbeat.
        public var ownedPartitions: [GroupTopicPartition]?
        /// "uniform" or "range"; nil: the member does not mind.
        public var serverAssignor: String?

        public init(
            groupId: String, memberId: String, memberEpoch: Int32, instanceId: String?, rackId: String?, clientId: String,
            clientHost: String, rebalanceTimeoutMs: Int32, subscribedTopics: [String]?, ownedPartitions: [GroupTopicPartition]?,
            serverAssignor: String? = nil, subscribedTopicRegex: String? = nil
        ) {
            self.serverAssignor = serverAssignor
            self.subscribedTopicRegex = subscribedTopicRegex
            self.groupId = groupId
            self.memberId = memberId
            self.memberEpoch = memberEpoch
            self.instanceId = instanceId
            self.rackId = rackId
            self.clientId = clientId
            self.clientHost = clientHost
            self.rebalanceTimeoutMs = rebalanceTimeoutMs
            self.subscribedTopics = subscribedTopics
            self.ownedPartitions = ownedPartitions
        }
    }

    public struct ConsumerHeartbeatResult: Sendable, Equatable {
        public var errorCode: Int16
        public var memberId: String
        public var memberEpoch: Int32
        /// nil when the member's assignment did not change.
        public var assignment: [GroupTopicPartition]?
        public var errorMessage: String?
    }

    static let fencedMemberEpoch: Int16 = 110
    static let unreleasedInstanceId: Int16 = 111
    static let groupIdNotFoundOrWrongType: Int16 = 69
    static let invalidRegularExpression: Int16 = 128

    /// One heartbeat: join (epoch 0), leave (epoch -1 or -2), or keep alive and reconcile.
    /// `partitionCounts` gives the partitions of every existing topic.
    public mutating func consumerHeartbeat(
        _ request: ConsumerHeartbeat, partitionCounts: [String: Int32], now: Int64
    ) -> ConsumerHeartbeatResult {
        func fail(_ code: Int16) -> ConsumerHeartbeatResult {
            ConsumerHeartbeatResult(errorCode: code, memberId: request.memberId, memberEpoch: -1)
        }
        guard !request.groupId.isEmpty else { return fail(Error.invalidGroupId) }
        if let classic = groups[request.groupId], !classic.members.isEmpty { return fail(Error.groupIdNotFound) }
        var group = consumerGroups[request.groupId] ?? ConsumerGroup(groupId: request.groupId)
        var memberId = request.memberId
        if memberId.isEmpty { memberId = newMemberId(clientId: request.clientId) }

        if request.memberEpoch < 0 {
            // -1 leaves; -2 is a static member leaving for a restart: both give up their partitions.
            if group.members.removeValue(forKey: memberId) != nil { group.groupEpoch += 1 }
            consumerGroups[request.groupId] = group
            return ConsumerHeartbeatResult(errorCode: 0, memberId: memberId, memberEpoch: request.memberEpoch)
        }

        var member: ConsumerGroup.Member
        // A join and a subscription change in one heartbeat are one new group epoch.
        var membershipChanged = false
        if request.memberEpoch == 0 {
            member = group.members[memberId] ?? ConsumerGroup.Member(
                memberId: memberId, instanceId: request.instanceId, rackId: request.rackId, clientId: request.clientId,
                clientHost: request.clientHost, memberEpoch: 0, subscribedTopics: [], rebalanceTimeoutMs: request.rebalanceTimeoutMs,
                lastHeartbeat: now)
            if let instanceId = request.instanceId, let previous = group.members.values.first(where: { $0.instanceId == instanceId && $0.memberId != memberId }) {
                group.members.removeValue(forKey: previous.memberId)
            }
            member.owned = []
            member.assigned = []
            member.memberEpoch = 0
            membershipChanged = true
        } else {
            guard let existing = group.members[memberId] else { return fail(Error.unknownMemberId) }
            guard request.memberEpoch == existing.memberEpoch else { return fail(Self.fencedMemberEpoch) }
            member = existing
        }
        member.lastHeartbeat = now
        if let topics = request.subscribedTopics?.sorted(), topics != member.subscribedTopics {
            member.subscribedTopics = topics
            membershipChanged = true
        }
        if let regex = request.subscribedTopicRegex, regex != (member.subscribedTopicRegex ?? "") {
            member.subscribedTopicRegex = regex.isEmpty ? nil : regex
        }
        // The regex is resolved against the topics as they are now, at every heartbeat, so a
        // topic created (or deleted) later joins (or leaves) the member's subscription.
        if let pattern = member.subscribedTopicRegex {
            guard let resolved = resolve(pattern, among: Set(partitionCounts.keys)) else {
                return ConsumerHeartbeatResult(
                    errorCode: Self.invalidRegularExpression, memberId: request.memberId, memberEpoch: -1,
                    errorMessage: "\(pattern) is not a valid regular expression")
            }
            if resolved != member.resolvedTopics {
                member.resolvedTopics = resolved
                membershipChanged = true
            }
        } else if !member.resolvedTopics.isEmpty {
            member.resolvedTopics = []
            membershipChanged = true
        }
        if let owned = request.ownedPartitions { member.owned = Set(owned) }
        if let assignor = request.serverAssignor, ["uniform", "range"].contains(assignor), assignor != group.assignor {
            group.assignor = assignor
            membershipChanged = true
        }
        if membershipChanged { group.groupEpoch += 1 }
        group.members[memberId] = member

        if group.assignmentEpoch < group.groupEpoch || group.targetAssignment[memberId] == nil {
            group.computeTargetAssignment(partitionCounts: partitionCounts)
        }
        let previous = member.assigned
        let next = reconcile(&member, in: group)
        group.members[memberId] = member
        consumerGroups[request.groupId] = group
        let changed = next != previous || request.memberEpoch == 0
        return ConsumerHeartbeatResult(
            errorCode: 0, memberId: memberId, memberEpoch: member.memberEpoch, assignment: changed ? next.sorted() : nil)
    }

    /// The topics `pattern` subscribes to among `names`, from the cache while the names are the
    /// same; nil if it is not a supported regular expression.
    private mutating func resolve(_ pattern: String, among names: Set<String>) -> [String]? {
        if let cached = regexResolutions[pattern], cached.names == names { return cached.topics }
        guard let topics = ConsumerGroup.topics(matching: pattern, among: names) else { return nil }
        if regexResolutions.count >= 1_000 { regexResolutions.removeAll() }
        regexResolutions[pattern] = (names, topics)
        return topics
    }

    /// The member's next assignment (KIP-848's member states): while it owns partitions outside
    /// its target it must revoke them first, at its current epoch; once it has nothing to revoke
    /// it moves to the assignment epoch and gets the target partitions nobody else still holds —
    /// the rest ("unreleased") follow in later heartbeats as their old owners let go.
    private func reconcile(_ member: inout ConsumerGroup.Member, in group: ConsumerGroup) -> Set<GroupTopicPartition> {
        let target = group.targetAssignment[member.memberId] ?? []
        let current = member.assigned.union(member.owned)
        let keep = current.intersection(target)
        if !current.subtracting(target).isEmpty {
            // Revocation first: the member drops the rest, at its current epoch.
            member.assigned = keep
            return keep
        }
        let free = target.subtracting(keep).subtracting(group.claimedByOthers(than: member.memberId))
        member.assigned = keep.union(free)
        member.memberEpoch = group.assignmentEpoch
        return member.assigned
    }

    /// Expires consumer-protocol members whose session ran out; `sessionTimeoutMs` gives each
    /// group's timeout (a group may have its own, KIP-848's `consumer.session.timeout.ms`).
    public mutating func expireConsumerMembers(now: Int64, sessionTimeoutMs: (String) -> Int64) {
        for (groupId, var group) in consumerGroups {
            let timeout = sessionTimeoutMs(groupId)
            let expired = group.members.values.filter { now - $0.lastHeartbeat > timeout }.map(\.memberId)
            guard !expired.isEmpty else { continue }
            for id in expired { group.members.removeValue(forKey: id) }
            group.groupEpoch += 1
            consumerGroups[groupId] = group
        }
    }

    /// OffsetCommit from a consumer-protocol member: its id must be known and its epoch current.
    func validateConsumerCommit(groupId: String, memberId: String, memberEpoch: Int32) -> Int16? {
        guard let group = consumerGroups[groupId], !group.members.isEmpty else { return nil }
        guard let member = group.members[memberId] else { return Error.unknownMemberId }
        return memberEpoch == member.memberEpoch ? Error.none : 113  // STALE_MEMBER_EPOCH
    }
}
