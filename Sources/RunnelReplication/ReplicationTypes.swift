/// Values the ISR / high-watermark state machine works with. Pure: no clock (times are passed
/// in as milliseconds), no I/O, no imports.

/// Where one follower has got to, as its fetches tell the leader (Kafka's Replica.scala state).
public struct FollowerProgress: Sendable, Equatable {
    /// The follower's log end offset: its last fetch offset (-1 until it fetched in this epoch).
    public var logEndOffset: Int64 = -1
    public var logStartOffset: Int64 = -1
    public var lastFetchTimeMs: Int64 = 0
    /// The leader's log end offset when it served the follower's last fetch.
    public var lastFetchLeaderLogEndOffset: Int64 = -1
    /// The last time the follower was known to have everything the leader had.
    public var lastCaughtUpTimeMs: Int64 = 0

    public init() {}
}

/// The ISR as the leader knows it: committed in the metadata store, or with one change
/// proposed and not answered yet (Kafka's PartitionState: CommittedPartitionState,
/// PendingExpandIsr, PendingShrinkIsr).
public enum IsrState: Sendable, Equatable {
    case committed(isr: Set<Int32>)
    case pendingExpand(committed: Set<Int32>, adding: Int32, proposal: Int)
    case pendingShrink(committed: Set<Int32>, removing: Set<Int32>, proposal: Int)

    /// What the metadata store holds.
    public var committed: Set<Int32> {
        switch self {
        case .committed(let isr), .pendingExpand(let isr, _, _), .pendingShrink(let isr, _, _): isr
        }
    }

    /// The ISR the high watermark and acks=all must respect: a member being added counts at
    /// once, a member being removed still counts until the removal is committed — the larger,
    /// hence safer, set (Kafka's maximalIsr).
    public var maximal: Set<Int32> {
        switch self {
        case .committed(let isr), .pendingShrink(let isr, _, _): isr
        case .pendingExpand(let isr, let adding, _): isr.union([adding])
        }
    }

    public var proposalInFlight: Int? {
        switch self {
        case .committed: nil
        case .pendingExpand(_, _, let proposal), .pendingShrink(_, _, let proposal): proposal
        }
    }
}

/// The partition's state in the metadata store, as far as the leader needs it.
public struct LeadershipRecord: Sendable, Equatable {
    public var replicas: [Int32]
    public var leader: Int32
    public var leaderEpoch: Int32
    public var partitionEpoch: Int32
    public var isr: [Int32]
    /// A running reassignment's replicas (KIP-455). The machine treats adding replicas like
    /// any follower; it keeps both lists only so that an ISR proposal writes them back unchanged.
    public var addingReplicas: [Int32]
    public var removingReplicas: [Int32]
    /// The store's version of the record: what a proposal compares.
    public var version: Int64

    public init(
        replicas: [Int32], leader: Int32, leaderEpoch: Int32, partitionEpoch: Int32, isr: [Int32],
        addingReplicas: [Int32] = [], removingReplicas: [Int32] = [], version: Int64
    ) {
        self.replicas = replicas
        self.leader = leader
        self.leaderEpoch = leaderEpoch
        self.partitionEpoch = partitionEpoch
        self.isr = isr
        self.addingReplicas = addingReplicas
        self.removingReplicas = removingReplicas
        self.version = version
    }
}

/// Kafka error codes the state machine answers with (RunnelProtocol's KafkaErrorCode has the
/// same numbers; this target imports nothing).
public enum ReplicationError {
    public static let none: Int16 = 0
    public static let notLeaderOrFollower: Int16 = 6
    public static let requestTimedOut: Int16 = 7
    public static let notEnoughReplicas: Int16 = 19
    public static let notEnoughReplicasAfterAppend: Int16 = 20
    public static let unknownLeaderEpoch: Int16 = 75
}
