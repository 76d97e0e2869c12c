import Logging
import RunnelCluster
import RunnelProtocol

/// Kafka's controlled shutdown: before a broker stops cleanly it hands every partition it leads
/// to another live in-sync replica and leaves those ISRs, so producers see a retriable
/// NOT_LEADER_OR_FOLLOWER and move on at once instead of waiting for the lease to expire, and a
/// rolling restart loses nothing acknowledged.
///
/// Each handover is a compare-and-set on the state this broker applied, written by the leader
/// itself: the successor is in the ISR, hence has everything acknowledged; a partition the
/// controller changed meanwhile is skipped (its conflict means someone else decided).
struct ControlledShutdown: Sendable {
    let store: any MetadataStore
    let view: MetadataView
    let brokerId: Int32
    let logger: Logger

    /// The new state of a partition this broker leads, led by its first other live ISR member;
    /// nil when there is none (the partition stays with this broker until its lease ends).
    static func handover(of state: PartitionState, from broker: Int32, live: Set<Int32>) -> PartitionState? {
        guard state.leader == broker, let successor = state.isr.first(where: { $0 != broker && live.contains($0) }) else {
            return nil
        }
        var next = state
        next.leader = successor
        next.leaderEpoch += 1
        next.partitionEpoch += 1
        next.isr = state.isr.filter { $0 != broker }
        return next
    }

    /// Hands over every partition it can; returns once this broker has applied the changes
    /// (or after `timeout`).
    func run(replicas: ReplicaManager, timeout: Duration = .seconds(10)) async {
        // It follows nobody from now on: a new leader must not count it in sync again.
        await replicas.stopFollowing()
        let image = view.image
        let live = image.liveBrokerIds
        var newest: Int64 = 0
        var moved = 0
        for (partition, versioned) in image.partitions.sorted(by: { $0.key < $1.key }) {
            guard let next = Self.handover(of: versioned.state, from: brokerId, live: live) else { continue }
            // It stops acknowledging first: nothing it appends from here on could be on the
            // successor, whose epoch starts at its own log end.
            if let hosted = replicas.partition(partition) { replicas.perform(hosted.stepDown(), for: hosted) }
            do {
                if case .committed(let revision) = try await store.compareAndSet(partition, expected: versioned.version, to: next, ifGone: nil) {
                    newest = max(newest, revision)
                    moved += 1
                }
            } catch {
                logger.warning("controlled shutdown: handing \(partition) to broker \(next.leader) failed (\(error)); its lease will")
            }
        }
        guard newest > 0 else { return }
        logger.info("controlled shutdown: handed \(moved) partitions to other in-sync replicas")
        _ = await view.waitUntilApplied(newest, timeout: timeout)
    }
}
