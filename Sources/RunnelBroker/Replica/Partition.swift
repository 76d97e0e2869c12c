import RunnelProtocol
import RunnelReplication
import RunnelStorage
import Synchronization

/// What this broker is for a partition, as the applied metadata says.
public enum ReplicaRole: Sendable, Equatable {
    case leader(epoch: Int32)
    case follower(leaderId: Int32, epoch: Int32)

    public var leaderEpoch: Int32 {
        switch self {
        case .leader(let epoch), .follower(_, let epoch): epoch
        }
    }

    public var isLeader: Bool {
        if case .leader = self { return true }
        return false
    }
}

/// A partition hosted here: its log, this broker's role for it, and — while it leads — the
/// ISR and high-watermark state machine (`PartitionReplication`) with the acks=all produces
/// waiting on it.
///
/// Concurrency: one mutex guards the role, the machine and the waiters, so a produce sees one
/// role for its whole check and a follower append never races a change of role. The machine's
/// actions are performed by `ReplicaManager` after the lock is released (they write to the
/// store, resume continuations, wake fetches). The role changes only through
/// `ReplicaManager.apply` (the metadata seam) and a step-down.
public final class Partition: Sendable {
    public let topicPartition: TopicPartition
    /// The id of the topic this log belongs to: a topic deleted and created again under the
    /// same name is another topic, whose partitions start empty.
    public let topicId: KafkaUUID
    public let log: PartitionLog

    struct State {
        var role: ReplicaRole
        var machine: PartitionReplication
        /// acks=all produces waiting for the high watermark, by the id the machine knows them by.
        var waiters: [Int: CheckedContinuation<Int16, Never>] = [:]
        var nextWaiterId = 1
        /// The version of the partition state at which this broker stepped down (an ISR change
        /// found a newer leader epoch): it leads again only on a newer version, never on the
        /// one that made it step down.
        var steppedDownAt: Int64?
        /// The store's version of the partition state last applied.
        var appliedVersion: Int64 = -1
        /// The newest version an ISR proposal found in the store (it conflicted): a step-down
        /// fences through it, so an older image still on its way cannot make this broker lead.
        var conflictVersion: Int64 = -1
        /// While leading, the ISR of the last image applied (for ISR change metrics and logs).
        var appliedIsr: Set<Int32>?
    }

    let state: Mutex<State>

    init(topicPartition: TopicPartition, topicId: KafkaUUID, log: PartitionLog, role: ReplicaRole, machine: PartitionReplication) {
        self.topicPartition = topicPartition
        self.topicId = topicId
        self.log = log
        state = Mutex(State(role: role, machine: machine))
    }

    public var role: ReplicaRole { state.withLock { $0.role } }

    /// Leads: the metadata says so and it has not stepped down since.
    public var isLeader: Bool {
        state.withLock { state in
            guard case .leader = state.role else { return false }
            return state.machine.leadership != nil
        }
    }

    public var leaderEpoch: Int32 { role.leaderEpoch }

    /// Notes the ISR an applied image gives this partition: the change (before, after) when it
    /// differs from the last one applied while leading; nil otherwise, and when not leading.
    func noteAppliedIsr(leading: Bool, isr: Set<Int32>) -> (before: Set<Int32>, after: Set<Int32>)? {
        state.withLock { state in
            let before = state.appliedIsr
            state.appliedIsr = leading ? isr : nil
            guard leading, let before, before != isr else { return nil }
            return (before, isr)
        }
    }

    /// acks=all produces waiting for the high watermark (the produce waiting room, Kafka's purgatory).
    var waitingProduces: Int { state.withLock { $0.waiters.count } }

    /// The committed ISR while leading (what the metadata store holds); empty otherwise.
    public var inSyncReplicas: Set<Int32> {
        state.withLock { $0.machine.leadership?.isr.committed ?? [] }
    }

    /// While leading: the log end offset when this leader epoch began. Until the high watermark
    /// reaches it, the high watermark may be behind what the previous leader already showed.
    public var leaderEpochStartOffset: Int64? {
        state.withLock { $0.machine.leadership?.epochStartOffset }
    }

    /// Why a fetch from follower `replica` is refused, per the machine (not leading, or not
    /// one of the partition's other replicas); nil when it is served.
    func followerFetchError(replica: Int32) -> Int16? { state.withLock { $0.machine.followerFetchError(replica: replica) } }

    /// What a machine event decided: the actions to perform and the waiting produces to answer.
    struct Step {
        var actions: [PartitionReplication.Action] = []
        var answers: [(CheckedContinuation<Int16, Never>, Int16)] = []
    }

    /// Feeds one event to the machine under the lock; the caller performs the step outside it.
    func handle(_ event: PartitionReplication.Event) -> Step {
        state.withLock { state in Self.run(event, in: &state) }
    }

    /// Registers an acks=all produce that needs the high watermark at `requiredOffset` and
    /// feeds it to the machine (which may answer it at once).
    func waitForHighWatermark(
        _ requiredOffset: Int64, deadlineMs: Int64, continuation: CheckedContinuation<Int16, Never>
    ) -> Step {
        state.withLock { state in
            let id = state.nextWaiterId
            state.nextWaiterId += 1
            state.waiters[id] = continuation
            return Self.run(.produceWaiting(id: id, requiredOffset: requiredOffset, deadlineMs: deadlineMs), in: &state)
        }
    }

    /// Applies a role from the metadata (with the state's version and the leader's record) and
    /// tells the machine what changed.
    ///
    /// A new leader epoch starts at the log end, recorded here under the lock (so no append of
    /// the old epoch can fall between the record and the machine's epoch start): a follower or
    /// consumer asking where the previous epoch ended gets the truth before any append.
    func apply(
        role: ReplicaRole, record: LeadershipRecord, config: PartitionReplication.Config, nowMs: Int64
    ) throws -> (previous: ReplicaRole, step: Step) {
        try state.withLock { state in
            let previous = state.role
            var step = Step()
            if state.machine.config != config {
                step = Self.run(.configChanged(minInsyncReplicas: config.minInsyncReplicas, replicaLagTimeMaxMs: config.replicaLagTimeMaxMs), in: &state)
            }
            state.role = role
            state.appliedVersion = record.version
            switch role {
            case .leader(let epoch):
                if let fenced = state.steppedDownAt, record.version <= fenced { break }
                state.steppedDownAt = nil
                if state.machine.leadership == nil || epoch != previous.leaderEpoch {
                    // (An empty log at epoch 0 has nothing to answer for: its first append
                    // records it, and creating many partitions does not pay a checkpoint write each.)
                    if epoch > 0 || log.offsets.logEndOffset > 0 { try log.assignEpochStart(epoch) }
                }
                let offsets = log.offsets
                let event: PartitionReplication.Event = state.machine.leadership == nil
                    ? .becameLeader(record, logEndOffset: offsets.logEndOffset, highWatermark: offsets.highWatermark, nowMs: nowMs)
                    : .metadataChanged(record, nowMs: nowMs)
                let more = Self.run(event, in: &state)
                step.actions += more.actions
                step.answers += more.answers
            case .follower:
                let more = Self.run(.leadershipEnded, in: &state)
                step.actions += more.actions
                step.answers += more.answers
            }
            return (previous, step)
        }
    }

    /// Stops leading until the metadata brings a newer version of the partition state.
    func stepDown() -> Step {
        state.withLock { state in
            state.steppedDownAt = max(state.appliedVersion, state.conflictVersion)
            return Self.run(.leadershipEnded, in: &state)
        }
    }

    /// Feeds the answer to an ISR proposal that conflicted, remembering the version it found.
    func handleConflict(proposal: Int, current: LeadershipRecord?) -> Step {
        state.withLock { state in
            if let current { state.conflictVersion = max(state.conflictVersion, current.version) }
            return Self.run(.proposalConflicted(proposal: proposal, current: current), in: &state)
        }
    }

    /// Feeds `event` only while this broker leads at `epoch` (a follower's fetch was checked
    /// against that epoch; by the time it is counted the partition may lead at another).
    func handle(_ event: PartitionReplication.Event, ifLeadingAt epoch: Int32) -> Step {
        state.withLock { state in
            guard state.role == .leader(epoch: epoch) else { return Step() }
            return Self.run(event, in: &state)
        }
    }

    enum LeaderAppend {
        case notLeader
        /// acks=all refused before the append: the committed ISR has this many members.
        case notEnoughReplicas(Int)
        /// With the machine's high watermark after the append (on a single replica it has
        /// passed the append already, and acks=all need not wait).
        case appended(PartitionLog.AppendResult, Step, highWatermark: Int64)
    }

    /// Appends as leader under the lock: checks that it leads (and, for acks=all, that the
    /// committed ISR has `requiredIsr` members), lets `write` append with the leader epoch,
    /// and tells the machine the new log end. The lock keeps a change of role from falling
    /// between the check and the write.
    func appendAsLeader(
        requiredIsr: Int?, nowMs: Int64, _ write: (Int32) throws -> PartitionLog.AppendResult
    ) throws -> LeaderAppend {
        try state.withLock { state in
            guard case .leader(let epoch) = state.role, let leadership = state.machine.leadership else { return .notLeader }
            if let requiredIsr, leadership.isr.committed.count < requiredIsr { return .notEnoughReplicas(leadership.isr.committed.count) }
            let result = try write(epoch)
            let step = result.isDuplicate ? Step() : Self.run(.leaderAppended(logEndOffset: result.nextOffset, nowMs: nowMs), in: &state)
            return .appended(result, step, highWatermark: state.machine.leadership?.highWatermark ?? -1)
        }
    }

    /// The leader's record as the machine holds it (for an ISR proposal); nil when not leading.
    var leadershipRecord: LeadershipRecord? { state.withLock { $0.machine.leadership?.record } }

    /// Runs `body` while this broker follows `leaderId` at `epoch`, under the lock, so that
    /// no change of role happens in the middle of a follower append or truncation. Returns nil
    /// (and does nothing) when the role is another.
    func whileFollowing<T>(_ leaderId: Int32, epoch: Int32, _ body: () throws -> T) rethrows -> T? {
        try state.withLock { state in
            guard state.role == .follower(leaderId: leaderId, epoch: epoch) else { return nil }
            return try body()
        }
    }

    private static func run(_ event: PartitionReplication.Event, in state: inout State) -> Step {
        var step = Step()
        for action in state.machine.handle(event) {
            if case .completeProduce(let id, let error) = action {
                if let waiter = state.waiters.removeValue(forKey: id) { step.answers.append((waiter, error)) }
            } else {
                step.actions.append(action)
            }
        }
        return step
    }
}
