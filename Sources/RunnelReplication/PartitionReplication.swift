/// The ISR and high-watermark rules of one partition this broker leads, as a state machine:
/// events go in (appends, follower fetches, clock ticks, answers from the metadata store),
/// actions come out (move the high watermark, answer waiting acks=all produces, propose an ISR
/// change, step down). The caller — the broker's `Partition`, under its lock — performs the
/// actions outside the lock. Nothing here reads a clock or touches a file, so every rule is
/// tested with hand-made events (Kafka's Partition.scala, Replica.scala, DelayedProduce).
///
/// The safety rules, each from Kafka:
/// - The high watermark is the smallest log end offset of the ISR (the maximal one while a
///   change is pending), and of any live replica that is caught up and about to join; it is
///   never moved by the leader's own append while any other replica is in the ISR, and never
///   while the committed ISR is smaller than `min.insync.replicas` (KIP-966). It only grows.
/// - An acks=all produce completes once the high watermark passes it; NOT_ENOUGH_REPLICAS_AFTER_APPEND
///   if the ISR is below `min.insync.replicas` then; REQUEST_TIMED_OUT at its deadline;
///   NOT_LEADER_OR_FOLLOWER if leadership ends first.
/// - A follower joins the ISR once it has reached the high watermark and the start of the
///   current leader epoch; it leaves when it has not caught up for `replica.lag.time.max.ms`.
///   Each change is one compare-and-set proposal at a time; a leader whose proposal finds a
///   newer leader epoch steps down.
public struct PartitionReplication: Sendable {
    public struct Config: Sendable, Equatable {
        public var brokerId: Int32
        public var minInsyncReplicas: Int32
        public var replicaLagTimeMaxMs: Int64

        public init(brokerId: Int32, minInsyncReplicas: Int32 = 1, replicaLagTimeMaxMs: Int64 = 30_000) {
            self.brokerId = brokerId
            self.minInsyncReplicas = minInsyncReplicas
            self.replicaLagTimeMaxMs = replicaLagTimeMaxMs
        }
    }

    public enum Event: Sendable, Equatable {
        /// This broker leads `record` now; its log ends at `logEndOffset`.
        case becameLeader(LeadershipRecord, logEndOffset: Int64, highWatermark: Int64, nowMs: Int64)
        /// The metadata store changed the record while this broker still leads (the controller
        /// took a dead broker out of the ISR, or our own proposal arrived through the watch).
        case metadataChanged(LeadershipRecord, nowMs: Int64)
        /// Leadership ended (became follower, partition stopped, lease lost).
        case leadershipEnded
        case leaderAppended(logEndOffset: Int64, nowMs: Int64)
        /// An acks=all produce appended up to `requiredOffset` (exclusive) waits.
        case produceWaiting(id: Int, requiredOffset: Int64, deadlineMs: Int64)
        /// A follower fetched from `fetchOffset`; `leaderLogEndOffsetAtRead` is the leader's log
        /// end taken before the read (so appends during the read cannot keep it out forever).
        case followerFetched(replica: Int32, fetchOffset: Int64, logStartOffset: Int64, leaderLogEndOffsetAtRead: Int64, nowMs: Int64)
        case tick(nowMs: Int64)
        case proposalCommitted(proposal: Int, LeadershipRecord)
        /// The compare-and-set lost: `current` is what the store holds (nil: partition gone).
        case proposalConflicted(proposal: Int, current: LeadershipRecord?)
        /// etcd could not be reached; the proposal is dropped and tried again later.
        case proposalFailed(proposal: Int)
        case liveBrokersChanged(Set<Int32>)
        case configChanged(minInsyncReplicas: Int32, replicaLagTimeMaxMs: Int64)
    }

    public enum Action: Sendable, Equatable {
        case advanceHighWatermark(Int64)
        case completeProduce(id: Int, error: Int16)
        /// Write `isr` with the next partition epoch, if the store still holds `expectedVersion`.
        case propose(proposal: Int, isr: [Int32], partitionEpoch: Int32, expectedVersion: Int64)
        case stepDown(reason: String)
    }

    /// What the leader tracks; nil while not leading.
    public struct Leadership: Sendable, Equatable {
        public var record: LeadershipRecord
        public var isr: IsrState
        public var followers: [Int32: FollowerProgress]
        public var logEndOffset: Int64
        public var highWatermark: Int64
        /// The log end offset when this leader epoch began: a follower must reach it to join.
        public var epochStartOffset: Int64
        public var waiting: [Int: (requiredOffset: Int64, deadlineMs: Int64)]
        public var lastShrinkCheckMs: Int64
        /// The latest time an event brought (the machine has no clock of its own).
        public var nowMs: Int64

        public static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.record == rhs.record && lhs.isr == rhs.isr && lhs.followers == rhs.followers && lhs.logEndOffset == rhs.logEndOffset
                && lhs.highWatermark == rhs.highWatermark && lhs.epochStartOffset == rhs.epochStartOffset
                && lhs.waiting.mapValues(\.requiredOffset) == rhs.waiting.mapValues(\.requiredOffset)
        }
    }

    public private(set) var config: Config
    public private(set) var leadership: Leadership?
    public private(set) var liveBrokers: Set<Int32>
    private var nextProposal = 1

    public init(config: Config, liveBrokers: Set<Int32> = []) {
        self.config = config
        self.liveBrokers = liveBrokers
    }

    // MARK: Queries (no state change)

    /// The NOT_ENOUGH_REPLICAS check before an acks=all append (Kafka checks the committed ISR).
    public func acceptsAcksAll() -> Bool {
        guard let leadership else { return false }
        return leadership.isr.committed.count >= Int(config.minInsyncReplicas)
    }

    /// A follower fetch from a broker that is not a replica is refused (UNKNOWN_LEADER_EPOCH),
    /// as is one while not leading (NOT_LEADER_OR_FOLLOWER).
    public func followerFetchError(replica: Int32) -> Int16? {
        guard let leadership else { return ReplicationError.notLeaderOrFollower }
        return leadership.record.replicas.contains(replica) && replica != config.brokerId ? nil : ReplicationError.unknownLeaderEpoch
    }

    // MARK: Events

    public mutating func handle(_ event: Event) -> [Action] {
        switch event {
        case .becameLeader(let record, let logEndOffset, let highWatermark, let now):
            return becomeLeader(record, logEndOffset: logEndOffset, highWatermark: highWatermark, now: now)
        case .metadataChanged(let record, let now):
            return metadataChanged(record, now: now)
        case .leadershipEnded:
            return endLeadership(error: ReplicationError.notLeaderOrFollower, reason: nil)
        case .leaderAppended(let logEndOffset, let now):
            guard leadership != nil else { return [] }
            leadership!.nowMs = max(leadership!.nowMs, now)
            leadership!.logEndOffset = max(leadership!.logEndOffset, logEndOffset)
            return updateHighWatermark()
        case .produceWaiting(let id, let requiredOffset, let deadline):
            guard leadership != nil else { return [.completeProduce(id: id, error: ReplicationError.notLeaderOrFollower)] }
            leadership!.waiting[id] = (requiredOffset, deadline)
            return completeWaitingProduces()
        case .followerFetched(let replica, let fetchOffset, let logStartOffset, let leaderEnd, let now):
            return followerFetched(replica, fetchOffset: fetchOffset, logStartOffset: logStartOffset, leaderEnd: leaderEnd, now: now)
        case .tick(let now):
            return tick(now: now)
        case .proposalCommitted(let proposal, let record):
            guard leadership?.isr.proposalInFlight == proposal else { return [] }
            return adopt(record)
        case .proposalConflicted(let proposal, let current):
            guard leadership?.isr.proposalInFlight == proposal else { return [] }
            guard let current, current.leader == config.brokerId, current.leaderEpoch == leadership!.record.leaderEpoch else {
                return endLeadership(
                    error: ReplicationError.notLeaderOrFollower,
                    reason: "an ISR change found a newer leader epoch or another leader: stepping down")
            }
            // Same leader epoch, newer partition epoch (the controller took a dead broker out):
            // take what is committed and decide again.
            return adopt(current)
        case .proposalFailed(let proposal):
            guard leadership?.isr.proposalInFlight == proposal else { return [] }
            leadership!.isr = .committed(isr: leadership!.isr.committed)
            return updateHighWatermark()
        case .liveBrokersChanged(let live):
            // Only a follower's fetch adds it to the ISR (Kafka's maybeExpandIsr): a broker's
            // coming back proves nothing about its log.
            liveBrokers = live
            return updateHighWatermark()
        case .configChanged(let minInsync, let lagMax):
            config.minInsyncReplicas = minInsync
            config.replicaLagTimeMaxMs = lagMax
            return updateHighWatermark()
        }
    }

    // MARK: Leadership

    private mutating func becomeLeader(_ record: LeadershipRecord, logEndOffset: Int64, highWatermark: Int64, now: Int64) -> [Action] {
        if let current = leadership {
            // A stale or repeated record changes nothing.
            guard record.leaderEpoch > current.record.leaderEpoch else { return metadataChanged(record, now: now) }
        }
        let isr = Set(record.isr)
        var followers: [Int32: FollowerProgress] = [:]
        for replica in record.replicas where replica != config.brokerId {
            var progress = FollowerProgress()
            // ISR members count as caught up now: they get a full lag window to fetch.
            progress.lastCaughtUpTimeMs = isr.contains(replica) ? now : 0
            followers[replica] = progress
        }
        let waiting = leadership?.waiting ?? [:]
        leadership = Leadership(
            record: record, isr: .committed(isr: isr), followers: followers, logEndOffset: logEndOffset,
            highWatermark: highWatermark, epochStartOffset: logEndOffset, waiting: waiting, lastShrinkCheckMs: now, nowMs: now)
        return updateHighWatermark()
    }

    private mutating func metadataChanged(_ record: LeadershipRecord, now: Int64) -> [Action] {
        guard leadership != nil else { return [] }
        leadership!.nowMs = max(leadership!.nowMs, now)
        let current = leadership!
        if record.leader != config.brokerId || record.leaderEpoch > current.record.leaderEpoch {
            guard record.leader == config.brokerId else {
                return endLeadership(error: ReplicationError.notLeaderOrFollower, reason: nil)
            }
            return becomeLeader(record, logEndOffset: current.logEndOffset, highWatermark: current.highWatermark, now: now)
        }
        // Older news than what we hold: ignore.
        guard record.leaderEpoch == current.record.leaderEpoch, record.partitionEpoch > current.record.partitionEpoch else { return [] }
        return adopt(record)
    }

    /// Takes a committed record of the current leader epoch as the truth (ending any pending proposal).
    private mutating func adopt(_ record: LeadershipRecord) -> [Action] {
        let committed = Set(record.isr)
        leadership!.record = record
        leadership!.isr = .committed(isr: committed)
        // A reassignment adds and removes replicas under the same leader epoch: new ones are
        // tracked from their first fetch, removed ones are forgotten (they no longer count for
        // the high watermark, and their fetches are refused).
        leadership!.followers = leadership!.followers.filter { record.replicas.contains($0.key) }
        for replica in record.replicas where replica != config.brokerId && leadership!.followers[replica] == nil {
            leadership!.followers[replica] = FollowerProgress()
        }
        var actions = updateHighWatermark()
        // An ISR that fell below min.insync.replicas fails every waiting acks=all produce now:
        // the high watermark cannot pass them until it grows again (KIP-966).
        if committed.count < Int(config.minInsyncReplicas) {
            for id in leadership!.waiting.keys.sorted() {
                actions.append(.completeProduce(id: id, error: ReplicationError.notEnoughReplicasAfterAppend))
            }
            leadership!.waiting = [:]
        }
        return actions
    }

    private mutating func endLeadership(error: Int16, reason: String?) -> [Action] {
        guard let current = leadership else { return [] }
        leadership = nil
        var actions = current.waiting.keys.sorted().map { Action.completeProduce(id: $0, error: error) }
        if let reason { actions.append(.stepDown(reason: reason)) }
        return actions
    }

    // MARK: Followers

    private mutating func followerFetched(
        _ replica: Int32, fetchOffset: Int64, logStartOffset: Int64, leaderEnd: Int64, now: Int64
    ) -> [Action] {
        guard followerFetchError(replica: replica) == nil, var progress = leadership!.followers[replica] else { return [] }
        // Replica.updateFetchState: caught up if it fetched from the leader's end at read
        // time, or from where the leader ended at its previous fetch (it was caught up then).
        if fetchOffset >= leaderEnd {
            progress.lastCaughtUpTimeMs = max(progress.lastCaughtUpTimeMs, now)
        } else if fetchOffset >= progress.lastFetchLeaderLogEndOffset {
            progress.lastCaughtUpTimeMs = max(progress.lastCaughtUpTimeMs, progress.lastFetchTimeMs)
        }
        progress.logEndOffset = fetchOffset
        progress.logStartOffset = logStartOffset
        progress.lastFetchLeaderLogEndOffset = leaderEnd
        progress.lastFetchTimeMs = now
        leadership!.followers[replica] = progress
        leadership!.nowMs = max(leadership!.nowMs, now)
        return maybeExpand() + updateHighWatermark()
    }

    private func isCaughtUp(_ replica: Int32, now: Int64, leadership: Leadership) -> Bool {
        guard let progress = leadership.followers[replica] else { return false }
        return progress.logEndOffset == leadership.logEndOffset || now - progress.lastCaughtUpTimeMs <= config.replicaLagTimeMaxMs
    }

    /// Proposes adding the first follower that has reached the high watermark and the start
    /// of this leader epoch, if no proposal is in flight.
    private mutating func maybeExpand() -> [Action] {
        guard let current = leadership, current.isr.proposalInFlight == nil else { return [] }
        let committed = current.isr.committed
        let candidate = current.record.replicas.first { replica in
            guard replica != config.brokerId, !committed.contains(replica), liveBrokers.contains(replica),
                  let progress = current.followers[replica]
            else { return false }
            return progress.logEndOffset >= current.highWatermark && progress.logEndOffset >= current.epochStartOffset
        }
        guard let candidate else { return [] }
        let proposal = takeProposalId()
        leadership!.isr = .pendingExpand(committed: committed, adding: candidate, proposal: proposal)
        return [propose(proposal, isr: committed.union([candidate]))]
    }

    private mutating func tick(now: Int64) -> [Action] {
        guard leadership != nil else { return [] }
        leadership!.nowMs = max(leadership!.nowMs, now)
        let current = leadership!
        var actions: [Action] = []
        // Deadlines of waiting produces.
        for (id, entry) in current.waiting.sorted(by: { $0.key < $1.key }) where entry.deadlineMs <= now {
            leadership!.waiting[id] = nil
            actions.append(.completeProduce(id: id, error: ReplicationError.requestTimedOut))
        }
        // Shrink at most every lag/2 (ReplicaManager's isr-expiration schedule).
        guard now - current.lastShrinkCheckMs >= config.replicaLagTimeMaxMs / 2, current.isr.proposalInFlight == nil else {
            return actions
        }
        leadership!.lastShrinkCheckMs = now
        let committed = current.isr.committed
        let lagging = Set(committed.filter { $0 != config.brokerId && !isCaughtUp($0, now: now, leadership: current) })
        guard !lagging.isEmpty else { return actions }
        let proposal = takeProposalId()
        leadership!.isr = .pendingShrink(committed: committed, removing: lagging, proposal: proposal)
        return actions + [propose(proposal, isr: committed.subtracting(lagging))]
    }

    private mutating func takeProposalId() -> Int {
        defer { nextProposal += 1 }
        return nextProposal
    }

    private func propose(_ proposal: Int, isr: Set<Int32>) -> Action {
        let record = leadership!.record
        return .propose(proposal: proposal, isr: record.replicas.filter { isr.contains($0) }, partitionEpoch: record.partitionEpoch + 1,
                        expectedVersion: record.version)
    }

    // MARK: High watermark

    private mutating func updateHighWatermark() -> [Action] {
        guard let current = leadership else { return [] }
        // KIP-966: no progress while the committed ISR is below min.insync.replicas.
        guard current.isr.committed.count >= Int(config.minInsyncReplicas) else { return [] }
        let maximal = current.isr.maximal
        var candidate = current.logEndOffset
        let now = current.nowMs
        for (replica, progress) in current.followers where progress.logEndOffset < candidate {
            // ISR members hold it back, and so does a live replica that is caught up and about
            // to join (else the HW could pass what the next ISR member lacks).
            let joining = liveBrokers.contains(replica) && progress.logEndOffset >= 0 && isCaughtUp(replica, now: now, leadership: current)
            if maximal.contains(replica) || joining {
                candidate = max(progress.logEndOffset, 0)
            }
        }
        guard candidate > current.highWatermark else { return completeWaitingProduces() }
        leadership!.highWatermark = candidate
        return [.advanceHighWatermark(candidate)] + completeWaitingProduces()
    }

    private mutating func completeWaitingProduces() -> [Action] {
        guard let current = leadership else { return [] }
        var actions: [Action] = []
        for (id, entry) in current.waiting.sorted(by: { $0.key < $1.key }) where entry.requiredOffset <= current.highWatermark {
            leadership!.waiting[id] = nil
            let enough = current.isr.maximal.count >= Int(config.minInsyncReplicas)
            actions.append(.completeProduce(id: id, error: enough ? ReplicationError.none : ReplicationError.notEnoughReplicasAfterAppend))
        }
        return actions
    }
}
