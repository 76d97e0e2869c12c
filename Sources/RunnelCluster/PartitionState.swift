/// Who holds a partition and who leads it: the record every leadership and ISR change rewrites
/// (Kafka's PartitionRecord / PartitionChangeRecord, folded into one value).
///
/// Every write of it goes through a compare-and-swap on the version the writer saw
/// (`VersionedPartitionState.version`), so two writers never both win.
public struct PartitionState: Codable, Sendable, Equatable {
    /// The brokers that hold a copy, in preference order: `replicas[0]` is the preferred leader.
    public var replicas: [Int32]
    /// The broker that leads, or -1 when none can (the partition is offline).
    public var leader: Int32
    /// +1 on every change of leader (to and from -1 too); fences a deposed leader (KIP-101).
    public var leaderEpoch: Int32
    /// +1 on every write of this record (Kafka's partition epoch).
    public var partitionEpoch: Int32
    /// The in-sync replicas: those that have everything the leader acknowledged. Changed by
    /// the leader (followers catching up or falling behind) and by the controller (dead brokers).
    public var isr: [Int32]
    /// Replicas a reassignment is adding (KIP-455): already in `replicas`, catching up.
    public var addingReplicas: [Int32]
    /// Replicas a reassignment takes away once every target replica is in the ISR; still in
    /// `replicas` (and serving) until then.
    public var removingReplicas: [Int32]

    public init(
        replicas: [Int32], leader: Int32, leaderEpoch: Int32 = 0, partitionEpoch: Int32 = 0, isr: [Int32],
        addingReplicas: [Int32] = [], removingReplicas: [Int32] = []
    ) {
        self.replicas = replicas
        self.leader = leader
        self.leaderEpoch = leaderEpoch
        self.partitionEpoch = partitionEpoch
        self.isr = isr
        self.addingReplicas = addingReplicas
        self.removingReplicas = removingReplicas
    }

    /// Whether a reassignment is under way.
    public var isReassigning: Bool { !addingReplicas.isEmpty || !removingReplicas.isEmpty }

    /// Where a reassignment is going: the replicas without those it removes.
    public var targetReplicas: [Int32] { replicas.filter { !removingReplicas.contains($0) } }

    /// Where a reassignment came from: the replicas without those it adds.
    public var originalReplicas: [Int32] { replicas.filter { !addingReplicas.contains($0) } }

    private enum CodingKeys: String, CodingKey {
        case replicas, leader, leaderEpoch, partitionEpoch, isr, addingReplicas, removingReplicas
    }

    // Written by hand so that states stored before reassignment existed still decode, and a
    // state without a reassignment is stored as before.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        replicas = try container.decode([Int32].self, forKey: .replicas)
        leader = try container.decode(Int32.self, forKey: .leader)
        leaderEpoch = try container.decode(Int32.self, forKey: .leaderEpoch)
        partitionEpoch = try container.decode(Int32.self, forKey: .partitionEpoch)
        isr = try container.decode([Int32].self, forKey: .isr)
        addingReplicas = try container.decodeIfPresent([Int32].self, forKey: .addingReplicas) ?? []
        removingReplicas = try container.decodeIfPresent([Int32].self, forKey: .removingReplicas) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(replicas, forKey: .replicas)
        try container.encode(leader, forKey: .leader)
        try container.encode(leaderEpoch, forKey: .leaderEpoch)
        try container.encode(partitionEpoch, forKey: .partitionEpoch)
        try container.encode(isr, forKey: .isr)
        if !addingReplicas.isEmpty { try container.encode(addingReplicas, forKey: .addingReplicas) }
        if !removingReplicas.isEmpty { try container.encode(removingReplicas, forKey: .removingReplicas) }
    }

    /// A new partition: led by its preferred replica, every replica in sync (all are empty,
    /// as Kafka's controller creates them).
    public static func initial(replicas: [Int32]) -> PartitionState {
        PartitionState(replicas: replicas, leader: replicas.first ?? -1, isr: replicas)
    }

    /// Whether writing `next` over this state needs a new leader epoch: the leader changes, or
    /// a replica leaves the replica set (Kafka's PartitionChangeBuilder). The second fences the
    /// removed replica's fetches still in flight and makes the leader forget what it knew of
    /// that replica: a replica removed and added back (its copy deleted and started again
    /// empty) must not be credited with the old copy's progress, even by a leader that never
    /// saw the state in between.
    public func needsNewLeaderEpoch(for next: PartitionState) -> Bool {
        next.leader != leader || !Set(next.replicas).isSuperset(of: replicas)
    }

    /// Replicas that are not live: Metadata's offline replicas.
    public func offlineReplicas(live: Set<Int32>) -> [Int32] { replicas.filter { !live.contains($0) } }
}

/// A partition state with the store's version of it, the token a compare-and-swap names.
public struct VersionedPartitionState: Sendable, Equatable {
    public var state: PartitionState
    /// etcd's mod revision of the key (the embedded store's own counter).
    public var version: Int64

    public init(state: PartitionState, version: Int64) {
        self.state = state
        self.version = version
    }
}
