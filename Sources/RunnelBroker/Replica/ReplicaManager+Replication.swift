#if canImport(Glibc)
import Glibc
#endif
import RunnelCluster
import RunnelProtocol
import RunnelReplication

/// The leader side of replication: performing what the partitions' state machines decide,
/// the clock that drives them, acks=all waits and follower fetches as the machines see them.
extension ReplicaManager {
    /// Milliseconds of a clock that never goes back and keeps counting while the process is
    /// stopped (CLOCK_MONOTONIC): the machines' lag and deadline arithmetic must not be fooled
    /// by wall-clock steps.
    static func monotonicMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }

    /// Performs a machine's step: answers waiting produces, moves the log's high watermark
    /// (waking consumers), sends ISR proposals to the store, steps down.
    func perform(_ step: Partition.Step, for partition: Partition) {
        for (waiter, code) in step.answers { waiter.resume(returning: code) }
        for action in step.actions {
            switch action {
            case .advanceHighWatermark(let offset):
                partition.log.updateHighWatermark(offset)
                waitingRoom.notifyAppend(to: partition.topicPartition)
            case .completeProduce:
                // Taken out by Partition.run with its continuation.
                break
            case .propose(let proposal, let isr, let partitionEpoch, let expectedVersion):
                propose(proposal, isr: isr, partitionEpoch: partitionEpoch, expectedVersion: expectedVersion, for: partition)
            case .stepDown(let reason):
                logger.warning("\(partition.topicPartition): \(reason)")
                perform(partition.stepDown(), for: partition)
                waitingRoom.notifyAppend(to: partition.topicPartition)
            }
        }
    }

    /// Kafka's AlterPartition, as a compare-and-set of the partition state on the version the
    /// leader holds: the ISR changes only if nobody (the controller, a newer leader) wrote
    /// since. The outcome goes back to the machine.
    private func propose(_ proposal: Int, isr: [Int32], partitionEpoch: Int32, expectedVersion: Int64, for partition: Partition) {
        guard let store, let record = partition.leadershipRecord else {
            perform(partition.handle(.proposalFailed(proposal: proposal)), for: partition)
            return
        }
        let next = PartitionState(
            replicas: record.replicas, leader: record.leader, leaderEpoch: record.leaderEpoch, partitionEpoch: partitionEpoch, isr: isr,
            addingReplicas: record.addingReplicas, removingReplicas: record.removingReplicas)
        let topicPartition = partition.topicPartition
        logger.info("\(topicPartition): proposing ISR \(isr) (partition epoch \(partitionEpoch), leader epoch \(record.leaderEpoch))")
        Task {
            let step: Partition.Step
            do {
                switch try await store.compareAndSet(topicPartition, expected: expectedVersion, to: next, ifGone: nil) {
                case .committed(let revision):
                    step = partition.handle(.proposalCommitted(proposal: proposal, Self.record(of: next, version: revision)))
                case .conflict(let current):
                    step = partition.handleConflict(proposal: proposal, current: current.map { Self.record(of: $0.state, version: $0.version) })
                }
            } catch {
                logger.warning("\(topicPartition): the ISR change could not be written (\(error)); it is tried again")
                // The proposal stays in flight meanwhile, so no other is made: a store that is
                // down is not asked again at every follower fetch.
                try? await Task.sleep(for: .milliseconds(Self.proposalRetryBackoffMs))
                step = partition.handle(.proposalFailed(proposal: proposal))
            }
            perform(step, for: partition)
        }
    }

    /// How long a failed ISR proposal waits before the machine may propose again.
    static let proposalRetryBackoffMs = 500

    static func record(of state: PartitionState, version: Int64) -> LeadershipRecord {
        LeadershipRecord(
            replicas: state.replicas, leader: state.leader, leaderEpoch: state.leaderEpoch, partitionEpoch: state.partitionEpoch,
            isr: state.isr, addingReplicas: state.addingReplicas, removingReplicas: state.removingReplicas, version: version)
    }

    /// Waits until the high watermark of `partition` reaches `offset` (every in-sync replica
    /// has the append), at most `timeoutMs`; answers the machine's verdict.
    func awaitHighWatermark(_ partition: Partition, reaching offset: Int64, timeoutMs: Int64) async -> KafkaErrorCode {
        let deadline = Self.monotonicMilliseconds() + max(0, timeoutMs)
        let code = await withCheckedContinuation { continuation in
            perform(partition.waitForHighWatermark(offset, deadlineMs: deadline, continuation: continuation), for: partition)
        }
        return KafkaErrorCode(rawValue: code)
    }

    /// What a follower's fetch tells the leader: where its log ends (`fetchOffset`), measured
    /// against the leader's log end before the read.
    func followerFetched(
        _ partition: Partition, replica: Int32, fetchOffset: Int64, logStartOffset: Int64, leaderLogEndOffset: Int64, leaderEpoch: Int32
    ) {
        let event = PartitionReplication.Event.followerFetched(
            replica: replica, fetchOffset: fetchOffset, logStartOffset: logStartOffset, leaderLogEndOffsetAtRead: leaderLogEndOffset,
            nowMs: Self.monotonicMilliseconds())
        perform(partition.handle(event, ifLeadingAt: leaderEpoch), for: partition)
    }

    /// Starts the clock of the machines: every `intervalMs` each partition led here learns the
    /// time (acks=all deadlines, ISR shrinks of followers that stopped catching up).
    func startReplication(intervalMs: Int64 = 100) {
        let task = Task { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(intervalMs))
                let now = Self.monotonicMilliseconds()
                for partition in hostedPartitions where partition.isLeader {
                    perform(partition.handle(.tick(nowMs: now)), for: partition)
                }
            }
        }
        ticker.withLock { $0 = task }
    }

    /// Stops the follower fetchers for good (a broker shutting down stops following before it
    /// hands its leaderships over, so the new leaders do not count it in sync again).
    func stopFollowing() async {
        await fetchers.stopAll()
    }

    /// Stops the clock and the fetchers; acks=all produces still waiting answer
    /// NOT_LEADER_OR_FOLLOWER now instead of at deadlines no clock would reach.
    func stopReplication() async {
        ticker.withLock { $0?.cancel() }
        await fetchers.stopAll()
        for partition in hostedPartitions {
            perform(partition.handle(.leadershipEnded), for: partition)
        }
    }
}
