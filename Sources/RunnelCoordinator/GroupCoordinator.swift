/// The group coordinator as a state machine (Kafka's GroupCoordinator, classic protocol):
/// requests and clock ticks go in; responses, parked responses to release, and records to
/// append come out. No sockets, no files, no clock of its own: `now` is always passed in, so
/// tests drive rebalances and session expiry without sleeping.
///
/// JoinGroup and SyncGroup are long-held: a join waits until every known member has rejoined
/// (or the rebalance timeout, or a new group's initial delay); a follower's sync waits for
/// the leader's assignment. Each returns `Action`s that complete parked requests by id.
public struct GroupCoordinator: Sendable {
    public typealias RequestID = Int

    public struct Config: Sendable, Equatable {
        /// `group.initial.rebalance.delay.ms`: a new group waits this long for more members.
        public var initialRebalanceDelayMs: Int64 = 3000
        public var minSessionTimeoutMs: Int32 = 6000
        public var maxSessionTimeoutMs: Int32 = 1_800_000
        public init() {}
    }

    public struct JoinRequest: Sendable {
        public var groupId: String
        public var memberId: String
        public var groupInstanceId: String?
        public var clientId: String
        public var clientHost: String
        public var protocolType: String
        public var protocols: [ClassicGroup.MemberProtocol]
        public var sessionTimeoutMs: Int32
        public var rebalanceTimeoutMs: Int32
        /// JoinGroup v4+: an unknown member first gets MEMBER_ID_REQUIRED and its id (KIP-394).
        public var requireKnownMemberId: Bool

        public init(
            groupId: String, memberId: String, groupInstanceId: String?, clientId: String, clientHost: String,
            protocolType: String, protocols: [ClassicGroup.MemberProtocol], sessionTimeoutMs: Int32, rebalanceTimeoutMs: Int32,
            requireKnownMemberId: Bool
        ) {
            self.groupId = groupId
            self.memberId = memberId
            self.groupInstanceId = groupInstanceId
            self.clientId = clientId
            self.clientHost = clientHost
            self.protocolType = protocolType
            self.protocols = protocols
            self.sessionTimeoutMs = sessionTimeoutMs
            self.rebalanceTimeoutMs = rebalanceTimeoutMs
            self.requireKnownMemberId = requireKnownMemberId
        }
    }

    public struct JoinResult: Sendable, Equatable {
        public var errorCode: Int16
        public var generationId: Int32 = -1
        public var protocolType: String?
        public var protocolName: String?
        public var leader: String = ""
        public var memberId: String
        /// The members and their subscriptions, for the leader only.
        public var members: [(memberId: String, groupInstanceId: String?, metadata: [UInt8])] = []

        public static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.errorCode == rhs.errorCode && lhs.generationId == rhs.generationId && lhs.protocolName == rhs.protocolName
                && lhs.leader == rhs.leader && lhs.memberId == rhs.memberId && lhs.members.map(\.memberId) == rhs.members.map(\.memberId)
        }
    }

    public struct SyncResult: Sendable, Equatable {
        public var errorCode: Int16
        public var protocolType: String?
        public var protocolName: String?
        public var assignment: [UInt8] = []
    }

    public enum Action: Sendable, Equatable {
        case completeJoin(RequestID, JoinResult)
        case completeSync(RequestID, SyncResult)
        /// The group settled (stable or empty): store it (`groupMetadataRecord`).
        case persistGroup(String)
    }

    // Kafka error codes used here (RunnelProtocol's KafkaErrorCode has the same numbers).
    enum Error {
        static let none: Int16 = 0
        static let illegalGeneration: Int16 = 22
        static let inconsistentGroupProtocol: Int16 = 23
        static let invalidGroupId: Int16 = 24
        static let unknownMemberId: Int16 = 25
        static let invalidSessionTimeout: Int16 = 26
        static let rebalanceInProgress: Int16 = 27
        static let nonEmptyGroup: Int16 = 68
        static let notCoordinator: Int16 = 16
        static let fencedInstanceId: Int16 = 82
        static let groupIdNotFound: Int16 = 69
        static let memberIdRequired: Int16 = 79
    }

    /// A member id handed out with MEMBER_ID_REQUIRED but never used is forgotten after this.
    static let pendingMemberTimeoutMs: Int64 = 300_000

    public let config: Config
    public internal(set) var groups: [String: ClassicGroup] = [:]
    public internal(set) var offsets: [String: [GroupTopicPartition: OffsetAndMetadata]] = [:]
    /// Groups of the KIP-848 consumer protocol (see GroupCoordinator+ConsumerProtocol).
    public internal(set) var consumerGroups: [String: ConsumerGroup] = [:]
    /// KIP-848 regex subscriptions resolved before, by pattern: the topic names it was matched
    /// against and the matches, reused while the topics stay the same. Cleared past 1,000 patterns.
    var regexResolutions: [String: (names: Set<String>, topics: [String])] = [:]
    private var memberCounter = 0

    public init(config: Config) {
        self.config = config
    }

    // MARK: JoinGroup

    public mutating func join(_ request: JoinRequest, id: RequestID, now: Int64) -> [Action] {
        func fail(_ code: Int16, memberId: String = request.memberId) -> [Action] {
            [.completeJoin(id, JoinResult(errorCode: code, memberId: memberId))]
        }
        guard !request.groupId.isEmpty else { return fail(Error.invalidGroupId) }
        guard (config.minSessionTimeoutMs...config.maxSessionTimeoutMs).contains(request.sessionTimeoutMs) else {
            return fail(Error.invalidSessionTimeout)
        }
        var group = groups[request.groupId] ?? ClassicGroup(groupId: request.groupId)
        if !group.members.isEmpty, group.protocolType != request.protocolType || !group.supports(request.protocols) {
            return fail(Error.inconsistentGroupProtocol)
        }
        var memberId = request.memberId
        var takenOver: [Action] = []
        if memberId.isEmpty {
            if let instanceId = request.groupInstanceId, let existing = group.member(instanceId: instanceId) {
                // A static member restarting: it takes over its old membership under a new id.
                memberId = newMemberId(clientId: request.clientId)
                var member = group.members.removeValue(forKey: existing.memberId)!
                takenOver = [member.awaitingJoin.map { .completeJoin($0, JoinResult(errorCode: Error.fencedInstanceId, memberId: existing.memberId)) },
                             member.awaitingSync.map { .completeSync($0, SyncResult(errorCode: Error.fencedInstanceId)) }].compactMap { $0 }
                member.awaitingJoin = nil
                member.awaitingSync = nil
                member.memberId = memberId
                group.members[memberId] = member
                if group.leaderId == existing.memberId { group.leaderId = memberId }
            } else if request.requireKnownMemberId {
                let assigned = newMemberId(clientId: request.clientId)
                group.pendingMembers[assigned] = now
                groups[request.groupId] = group
                return fail(Error.memberIdRequired, memberId: assigned)
            } else {
                memberId = newMemberId(clientId: request.clientId)
            }
        } else if group.members[memberId] == nil {
            guard group.pendingMembers.removeValue(forKey: memberId) != nil else {
                return fail(Error.unknownMemberId)
            }
        }
        let previous = group.members[memberId]
        // A member that joins again (a client retry) replaces its parked requests: answer those
        // so that no connection waits forever.
        var actions = takenOver
        if let parked = previous?.awaitingJoin {
            actions.append(.completeJoin(parked, JoinResult(errorCode: Error.rebalanceInProgress, memberId: memberId)))
        }
        if let parked = previous?.awaitingSync {
            actions.append(.completeSync(parked, SyncResult(errorCode: Error.rebalanceInProgress)))
        }
        group.joinCounter += 1
        group.members[memberId] = ClassicGroup.Member(
            memberId: memberId, groupInstanceId: request.groupInstanceId, clientId: request.clientId, clientHost: request.clientHost,
            sessionTimeoutMs: request.sessionTimeoutMs, rebalanceTimeoutMs: request.rebalanceTimeoutMs, protocols: request.protocols,
            assignment: previous?.assignment ?? [], lastHeartbeat: now, awaitingJoin: id, awaitingSync: nil,
            joinedAt: previous?.joinedAt ?? group.joinCounter)
        group.protocolType = request.protocolType
        if group.state != .preparingRebalance {
            actions += prepareRebalance(&group, now: now)
        }
        actions += maybeCompleteJoin(&group, now: now)
        groups[request.groupId] = group
        return actions
    }

    mutating func newMemberId(clientId: String) -> String {
        memberCounter += 1
        var generator = SystemRandomNumberGenerator()
        let random = String(generator.next() as UInt64, radix: 16)
        return "\(clientId.isEmpty ? "member" : clientId)-\(memberCounter)-\(random)"
    }

    private func prepareRebalance(_ group: inout ClassicGroup, now: Int64) -> [Action] {
        var actions: [Action] = []
        // Syncs parked in the previous generation will never get an assignment now.
        for (id, member) in group.members {
            if let sync = member.awaitingSync {
                actions.append(.completeSync(sync, SyncResult(errorCode: Error.rebalanceInProgress)))
                group.members[id]?.awaitingSync = nil
            }
        }
        let isNew = group.state == .empty
        group.state = .preparingRebalance
        let longest = group.members.values.map { Int64($0.rebalanceTimeoutMs) }.max() ?? 0
        group.rebalanceDeadline = now + longest
        group.initialDelayDeadline = isNew ? now + min(config.initialRebalanceDelayMs, max(longest, 0)) : nil
        return actions
    }

    /// Completes the join phase once every known member has rejoined (after a new group's
    /// initial delay), or at the rebalance deadline without the stragglers.
    private func maybeCompleteJoin(_ group: inout ClassicGroup, now: Int64) -> [Action] {
        guard group.state == .preparingRebalance else { return [] }
        if let delay = group.initialDelayDeadline, now < delay, now < group.rebalanceDeadline { return [] }
        guard group.allMembersJoined || now >= group.rebalanceDeadline else { return [] }
        group.pendingMembers.removeAll()
        for (id, member) in group.members where member.awaitingJoin == nil {
            group.members.removeValue(forKey: id)
        }
        group.generationId += 1
        group.initialDelayDeadline = nil
        guard !group.members.isEmpty else {
            group.state = .empty
            group.protocolName = nil
            group.leaderId = nil
            return [.persistGroup(group.groupId)]
        }
        group.protocolName = group.commonProtocols.first
        if group.leaderId.map({ group.members[$0] == nil }) ?? true {
            group.leaderId = group.members.values.min { $0.joinedAt < $1.joinedAt }!.memberId
        }
        group.state = .completingRebalance
        let ordered = group.members.values.sorted { $0.joinedAt < $1.joinedAt }
        var actions: [Action] = []
        for member in ordered {
            var result = JoinResult(
                errorCode: Error.none, generationId: group.generationId, protocolType: group.protocolType,
                protocolName: group.protocolName, leader: group.leaderId!, memberId: member.memberId)
            if member.memberId == group.leaderId {
                result.members = ordered.map { ($0.memberId, $0.groupInstanceId, $0.metadata(for: group.protocolName)) }
            }
            actions.append(.completeJoin(member.awaitingJoin!, result))
            group.members[member.memberId]?.awaitingJoin = nil
            group.members[member.memberId]?.lastHeartbeat = now
        }
        return actions
    }

    // MARK: SyncGroup

    public mutating func sync(
        groupId: String, memberId: String, generationId: Int32, assignments: [String: [UInt8]], id: RequestID, now: Int64
    ) -> [Action] {
        guard var group = groups[groupId], group.members[memberId] != nil else {
            return [.completeSync(id, SyncResult(errorCode: Error.unknownMemberId))]
        }
        guard generationId == group.generationId else {
            return [.completeSync(id, SyncResult(errorCode: Error.illegalGeneration))]
        }
        group.members[memberId]?.lastHeartbeat = now
        var actions: [Action] = []
        switch group.state {
        case .preparingRebalance, .empty, .dead:
            actions = [.completeSync(id, SyncResult(errorCode: Error.rebalanceInProgress))]
        case .stable:
            actions = [.completeSync(id, result(for: group.members[memberId]!, in: group))]
        case .completingRebalance:
            if let parked = group.members[memberId]?.awaitingSync {
                actions.append(.completeSync(parked, SyncResult(errorCode: Error.rebalanceInProgress)))
            }
            group.members[memberId]?.awaitingSync = id
            if memberId == group.leaderId {
                for memberId in group.members.keys { group.members[memberId]?.assignment = assignments[memberId] ?? [] }
                group.state = .stable
                for member in group.members.values {
                    if let waiting = member.awaitingSync {
                        actions.append(.completeSync(waiting, result(for: member, in: group)))
                        group.members[member.memberId]?.awaitingSync = nil
                    }
                }
                actions.append(.persistGroup(groupId))
            }
        }
        groups[groupId] = group
        return actions
    }

    private func result(for member: ClassicGroup.Member, in group: ClassicGroup) -> SyncResult {
        SyncResult(errorCode: Error.none, protocolType: group.protocolType, protocolName: group.protocolName, assignment: member.assignment)
    }

    // MARK: Heartbeat, LeaveGroup, expiry

    public mutating func heartbeat(groupId: String, memberId: String, generationId: Int32, now: Int64) -> Int16 {
        guard var group = groups[groupId], group.members[memberId] != nil else { return Error.unknownMemberId }
        guard generationId == group.generationId else { return Error.illegalGeneration }
        group.members[memberId]?.lastHeartbeat = now
        groups[groupId] = group
        return group.state == .preparingRebalance ? Error.rebalanceInProgress : Error.none
    }

    /// Removes members (by id, or by static instance id) and rebalances the rest.
    public mutating func leave(groupId: String, members: [(memberId: String, groupInstanceId: String?)], now: Int64)
        -> (errors: [Int16], actions: [Action])
    {
        guard var group = groups[groupId] else { return (members.map { _ in Error.unknownMemberId }, []) }
        var errors: [Int16] = []
        var actions: [Action] = []
        for (memberId, instanceId) in members {
            let id = memberId.isEmpty ? instanceId.flatMap { group.member(instanceId: $0)?.memberId } : memberId
            guard let id, let member = group.members.removeValue(forKey: id) else {
                errors.append(Error.unknownMemberId)
                continue
            }
            errors.append(Error.none)
            if let join = member.awaitingJoin { actions.append(.completeJoin(join, JoinResult(errorCode: Error.unknownMemberId, memberId: id))) }
            if let sync = member.awaitingSync { actions.append(.completeSync(sync, SyncResult(errorCode: Error.unknownMemberId))) }
        }
        if errors.contains(Error.none) { actions += membersChanged(&group, now: now) }
        groups[groupId] = group
        return (errors, actions)
    }

    /// Expires members whose session ran out and pending member ids never used, and completes
    /// joins whose deadline or initial delay has passed.
    public mutating func tick(now: Int64) -> [Action] {
        var actions: [Action] = []
        for groupId in groups.keys {
            var group = groups[groupId]!
            var changed = false
            for (id, member) in group.members where member.awaitingJoin == nil && now - member.lastHeartbeat > Int64(member.sessionTimeoutMs) {
                group.members.removeValue(forKey: id)
                if let sync = member.awaitingSync { actions.append(.completeSync(sync, SyncResult(errorCode: Error.unknownMemberId))) }
                changed = true
            }
            for (id, since) in group.pendingMembers where now - since > Self.pendingMemberTimeoutMs {
                group.pendingMembers.removeValue(forKey: id)
            }
            if changed { actions += membersChanged(&group, now: now) }
            actions += maybeCompleteJoin(&group, now: now)
            groups[groupId] = group
        }
        return actions
    }

    private func membersChanged(_ group: inout ClassicGroup, now: Int64) -> [Action] {
        if group.members.isEmpty, group.state != .preparingRebalance {
            group.state = .empty
            group.generationId += 1
            group.leaderId = nil
            group.protocolName = nil
            return [.persistGroup(group.groupId)]
        }
        var actions: [Action] = []
        if group.state != .preparingRebalance { actions += prepareRebalance(&group, now: now) }
        return actions + maybeCompleteJoin(&group, now: now)
    }

    /// The earliest time a `tick` could change something (a session expiry or a deadline).
    public var nextDeadline: Int64? {
        groups.values.flatMap { group -> [Int64] in
            var times = group.members.values.filter { $0.awaitingJoin == nil }.map { $0.lastHeartbeat + Int64($0.sessionTimeoutMs) + 1 }
            if group.state == .preparingRebalance { times.append(min(group.rebalanceDeadline, group.initialDelayDeadline ?? .max)) }
            return times
        }.min()
    }
}
