/// A consumer group of the classic protocol: its members, generation, chosen protocol and
/// leader, and where it is in a rebalance (Kafka's GroupMetadata).
public struct ClassicGroup: Sendable, Equatable {
    public enum State: String, Sendable {
        case empty = "Empty"
        case preparingRebalance = "PreparingRebalance"
        case completingRebalance = "CompletingRebalance"
        case stable = "Stable"
        case dead = "Dead"
    }

    public struct Member: Sendable, Equatable {
        public var memberId: String
        public var groupInstanceId: String?
        public var clientId: String
        public var clientHost: String
        public var sessionTimeoutMs: Int32
        public var rebalanceTimeoutMs: Int32
        /// (protocol name, subscription metadata), in the member's order of preference.
        public var protocols: [MemberProtocol]
        public var assignment: [UInt8] = []
        var lastHeartbeat: Int64
        /// The JoinGroup / SyncGroup request of this member waiting for the rebalance.
        var awaitingJoin: GroupCoordinator.RequestID?
        var awaitingSync: GroupCoordinator.RequestID?
        /// Join order: the first member to join leads.
        var joinedAt: Int

        func metadata(for protocolName: String?) -> [UInt8] {
            protocols.first { $0.name == protocolName }?.metadata ?? []
        }
    }

    public struct MemberProtocol: Sendable, Equatable {
        public var name: String
        public var metadata: [UInt8]
        public init(name: String, metadata: [UInt8]) {
            self.name = name
            self.metadata = metadata
        }
    }

    public let groupId: String
    public internal(set) var state: State = .empty
    public internal(set) var generationId: Int32 = 0
    public internal(set) var protocolType: String?
    public internal(set) var protocolName: String?
    public internal(set) var leaderId: String?
    public internal(set) var members: [String: Member] = [:]
    /// Member ids handed out with MEMBER_ID_REQUIRED (KIP-394), and when.
    var pendingMembers: [String: Int64] = [:]
    /// When a rebalance must complete even if not every member rejoined.
    var rebalanceDeadline: Int64 = 0
    /// A new group waits this long for more members before its first generation.
    var initialDelayDeadline: Int64?
    var joinCounter = 0

    init(groupId: String) {
        self.groupId = groupId
    }

    var allMembersJoined: Bool {
        pendingMembers.isEmpty && members.values.allSatisfy { $0.awaitingJoin != nil }
    }

    /// Protocols every member supports, in the leader's (first member's) order of preference.
    var commonProtocols: [String] {
        guard let first = members.values.min(by: { $0.joinedAt < $1.joinedAt }) else { return [] }
        return first.protocols.map(\.name).filter { name in members.values.allSatisfy { $0.protocols.contains { $0.name == name } } }
    }

    func supports(_ protocols: [MemberProtocol]) -> Bool {
        members.isEmpty || !Set(commonProtocols).isDisjoint(with: protocols.map(\.name))
    }

    func member(instanceId: String) -> Member? {
        members.values.first { $0.groupInstanceId == instanceId }
    }
}
