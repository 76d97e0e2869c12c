import RunnelProtocol

/// What the controller does about partition leadership, as a pure function of the metadata
/// image: which partition states to rewrite (each by compare-and-set on the version it read).
/// The broker's controller loop runs it on every image it sees while it holds the controller
/// key, writes the changes, and the next image shows them — or a conflict, and it runs again.
///
/// Rules (Kafka's controller; the leader changes the ISR itself as followers catch up or fall
/// behind, the controller only takes dead brokers out):
/// - A leader that is not live loses leadership: the next replica (in `replicas` order) that
///   is live and in the ISR becomes leader; if none, the partition goes offline (leader -1).
///   Unclean election is done only for topics that allow it (`unclean.leader.election.enable`):
///   only an ISR member can hold everything acknowledged.
/// - Dead brokers leave the ISR, except the last member: an ISR never empties, so the replica
///   that holds everything committed is remembered and elected again when it returns.
/// - An offline partition whose ISR member is live again gets it as leader.
/// - With `auto.leader.rebalance.enable`, a partition led by another broker while its preferred
///   replica (`replicas[0]`) is live and in the ISR goes back to the preferred replica.
/// - A reassignment whose target replicas are all in the ISR completes (`ReassignmentLogic`).
/// - Every leader change, and every write that removes a replica, bumps the leader epoch;
///   every write bumps the partition epoch.
public enum ControllerLogic {
    public struct Change: Sendable, Equatable {
        public var partition: TopicPartition
        public var expectedVersion: Int64
        public var state: PartitionState
    }

    public static func leadershipChanges(
        in image: MetadataImage, rebalancePreferred: Bool = true, uncleanAllowed: (TopicMetadata) -> Bool = { _ in false }
    ) -> [Change] {
        let live = image.liveBrokerIds
        var changes: [Change] = []
        for (partition, versioned) in image.partitions.sorted(by: { $0.key < $1.key }) {
            let current = versioned.state
            var next = ReassignmentLogic.completion(of: current, live: live) ?? current
            // Dead brokers leave the ISR; the last member stays.
            let liveIsr = next.isr.filter { live.contains($0) }
            next.isr = liveIsr.isEmpty ? Array(next.isr.prefix(1)) : liveIsr
            if next.leader < 0 || !live.contains(next.leader) {
                let candidate = next.replicas.first { live.contains($0) && next.isr.contains($0) }
                next.leader = candidate ?? -1
                if candidate == nil, let topic = image.topicsByName[partition.topic], uncleanAllowed(topic),
                   let anyLive = (next.originalReplicas + next.addingReplicas).first(where: { live.contains($0) }) {
                    // The topic accepts losing what the in-sync replicas had (a replica a
                    // reassignment is still adding has least of all, so it comes last).
                    next.leader = anyLive
                    next.isr = [anyLive]
                }
            } else if rebalancePreferred, let preferred = next.replicas.first, preferred != next.leader,
                      live.contains(preferred), next.isr.contains(preferred) {
                next.leader = preferred
            }
            guard next != current else { continue }
            if current.needsNewLeaderEpoch(for: next) { next.leaderEpoch = current.leaderEpoch + 1 }
            next.partitionEpoch = current.partitionEpoch + 1
            changes.append(Change(partition: partition, expectedVersion: versioned.version, state: next))
        }
        return changes
    }

    /// ElectLeaders' two kinds (KIP-460).
    public enum ElectionType: Int8, Sendable {
        /// The preferred replica, if it is live and in sync.
        case preferred = 0
        /// Only when no in-sync replica is live: the first live replica, accepting the loss of
        /// whatever it lacks (an operator's explicit choice).
        case unclean = 1
    }

    public enum ElectionOutcome: Sendable, Equatable {
        case elect(PartitionState)
        case notNeeded
        /// PREFERRED_LEADER_NOT_AVAILABLE (preferred) or ELIGIBLE_LEADERS_NOT_AVAILABLE (unclean).
        case notPossible(String)
    }

    /// What an ElectLeaders request does to one partition.
    public static func election(_ type: ElectionType, of current: PartitionState, live: Set<Int32>) -> ElectionOutcome {
        func leading(_ leader: Int32, isr: [Int32]) -> ElectionOutcome {
            var next = current
            next.leader = leader
            next.isr = isr
            next.leaderEpoch = current.leaderEpoch + 1
            next.partitionEpoch = current.partitionEpoch + 1
            return .elect(next)
        }
        switch type {
        case .preferred:
            guard let preferred = current.replicas.first else { return .notPossible("the partition has no replicas") }
            if preferred == current.leader { return .notNeeded }
            guard live.contains(preferred), current.isr.contains(preferred) else {
                return .notPossible("the preferred leader \(preferred) is not live and in sync")
            }
            return leading(preferred, isr: current.isr)
        case .unclean:
            if current.leader >= 0, live.contains(current.leader) { return .notNeeded }
            if let clean = current.replicas.first(where: { live.contains($0) && current.isr.contains($0) }) {
                return leading(clean, isr: current.isr.filter { live.contains($0) })
            }
            guard let anyLive = current.replicas.first(where: { live.contains($0) }) else {
                return .notPossible("no replica of the partition is live")
            }
            return leading(anyLive, isr: [anyLive])
        }
    }
}
