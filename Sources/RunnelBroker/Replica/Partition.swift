import RunnelProtocol
import RunnelStorage
import Synchronization

/// What this broker is for a partition. Followers arrive with replication; the role is in the
/// types now so that the leader-only paths (produce, consumer fetch) already check it.
public enum ReplicaRole: Sendable, Equatable {
    case leader(epoch: Int32, inSyncReplicas: Set<Int32>)
    case follower(leaderId: Int32, epoch: Int32)

    public var leaderEpoch: Int32 {
        switch self {
        case .leader(let epoch, _), .follower(_, let epoch): epoch
        }
    }
}

/// A partition hosted here: its log and this broker's role for it.
///
/// The role changes only through `ReplicaManager.apply` (the metadata seam); readers take it
/// under the lock, so a produce sees one role for its whole check.
public final class Partition: Sendable {
    public let topicPartition: TopicPartition
    /// The id of the topic this log belongs to: a topic deleted and created again under the
    /// same name is another topic, whose partitions start empty.
    public let topicId: KafkaUUID
    public let log: PartitionLog
    private let roleState: Mutex<ReplicaRole>

    init(topicPartition: TopicPartition, topicId: KafkaUUID, log: PartitionLog, role: ReplicaRole) {
        self.topicPartition = topicPartition
        self.topicId = topicId
        self.log = log
        roleState = Mutex(role)
    }

    public var role: ReplicaRole { roleState.withLock { $0 } }

    /// Sets the role; returns the previous one.
    @discardableResult
    func setRole(_ role: ReplicaRole) -> ReplicaRole {
        roleState.withLock { current in
            defer { current = role }
            return current
        }
    }

    public var isLeader: Bool {
        if case .leader = role { return true }
        return false
    }

    public var leaderEpoch: Int32 { role.leaderEpoch }

    /// Members of the ISR; for a single node, this broker alone.
    public var inSyncReplicas: Set<Int32> {
        if case .leader(_, let isr) = role { return isr }
        return []
    }
}
