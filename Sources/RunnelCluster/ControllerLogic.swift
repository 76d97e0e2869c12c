import RunnelProtocol

/// What the controller does about partition leadership, as a pure function of the metadata
/// image: which partition states to rewrite (each by compare-and-set on the version it read).
/// The broker's controller loop runs it on every image it sees while it holds the controller
/// key, writes the changes, and the next image shows them — or a conflict, and it runs again.
///
/// Rules (Kafka's controller, with ISR = {leader} until followers replicate):
/// - A leader that is not live loses leadership: the next replica (in `replicas` order) that
///   is live and in the ISR becomes leader; if none, the partition goes offline (leader -1).
///   Unclean election is never done: only an ISR member can hold everything acknowledged.
/// - Dead brokers leave the ISR, except the last member: an ISR never empties, so the replica
///   that holds everything committed is remembered and elected again when it returns.
/// - An offline partition whose ISR member is live again gets it as leader.
/// - Every leader change bumps the leader epoch; every write bumps the partition epoch.
public enum ControllerLogic {
    public struct Change: Sendable, Equatable {
        public var partition: TopicPartition
        public var expectedVersion: Int64
        public var state: PartitionState
    }

    public static func leadershipChanges(in image: MetadataImage) -> [Change] {
        let live = image.liveBrokerIds
        var changes: [Change] = []
        for (partition, versioned) in image.partitions.sorted(by: { $0.key < $1.key }) {
            let current = versioned.state
            var next = current
            // Dead brokers leave the ISR; the last member stays.
            let liveIsr = current.isr.filter { live.contains($0) }
            next.isr = liveIsr.isEmpty ? Array(current.isr.prefix(1)) : liveIsr
            if current.leader < 0 || !live.contains(current.leader) {
                let candidate = current.replicas.first { live.contains($0) && next.isr.contains($0) }
                next.leader = candidate ?? -1
            }
            guard next != current else { continue }
            if next.leader != current.leader { next.leaderEpoch = current.leaderEpoch + 1 }
            next.partitionEpoch = current.partitionEpoch + 1
            changes.append(Change(partition: partition, expectedVersion: versioned.version, state: next))
        }
        return changes
    }
}
