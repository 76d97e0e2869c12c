/// Moving a partition's replicas to other brokers (KIP-455), as pure functions of its state.
///
/// A reassignment never copies data itself: it widens `replicas` to target ∪ current, so the
/// new brokers host the partition and fetch from the leader like any follower, and it narrows
/// them to the target once every target replica is in the ISR. Until then the old replicas keep
/// serving and count toward the ISR, so acks=all and min.insync.replicas hold throughout
/// (Kafka's ReplicationControlManager and PartitionReassignmentReplicas).
///
/// - Start: `replicas` = target, then the current replicas not in it; `addingReplicas` =
///   target − current; `removingReplicas` = current − target. A new target for a partition
///   already moving starts from its original replicas (what it had before the first one).
/// - Complete (the controller, on every image): once the ISR holds every target replica,
///   `replicas` = target, the removed replicas leave the ISR, and a leader being removed hands
///   over to the first target replica that is live and in sync. Removing a replica always
///   starts a new leader epoch (Kafka does the same): the removed copy's fetches are fenced.
/// - Cancel: back to the original replicas (in the order the move listed them, as Kafka does);
///   those being added leave the ISR.
public enum ReassignmentLogic {
    public enum Refusal: Error, Sendable, Equatable {
        /// INVALID_REPLICA_ASSIGNMENT: empty, repeated or unknown brokers.
        case invalidAssignment(String)
        /// INVALID_REPLICATION_FACTOR: the request forbade changing it (AlterPartitionReassignments v1).
        case replicationFactorChange(String)
        /// NO_REASSIGNMENT_IN_PROGRESS: a cancel for a partition that is not moving.
        case noReassignment
    }

    /// The state a reassignment request leads to, or nil when nothing changes (the target is
    /// where the partition already is). `target` nil cancels. `registered`: the brokers the
    /// metadata knows (a target may name a broker that is down, as Kafka allows, but not one
    /// that never joined).
    public static func reassign(
        _ current: PartitionState, to target: [Int32]?, registered: Set<Int32>, live: Set<Int32>, allowReplicationFactorChange: Bool = true
    ) -> Result<PartitionState?, Refusal> {
        let original = current.originalReplicas
        guard let target else {
            guard current.isReassigning else { return .failure(.noReassignment) }
            var next = current
            next.replicas = original
            next.isr = current.isr.filter { original.contains($0) }
            next.addingReplicas = []
            next.removingReplicas = []
            guard !next.isr.isEmpty else {
                return .failure(.invalidAssignment("cancelling would leave no in-sync replica; finish the reassignment instead"))
            }
            let cancelled = finished(current, next, live: live)
            guard cancelled.leader >= 0 || current.leader < 0 else {
                return .failure(.invalidAssignment("cancelling would leave no live in-sync replica to lead"))
            }
            return .success(cancelled)
        }
        if target.isEmpty { return .failure(.invalidAssignment("the target replica list is empty")) }
        if Set(target).count != target.count { return .failure(.invalidAssignment("the target replica list \(target) repeats a broker")) }
        if let unknown = target.first(where: { !registered.contains($0) }) {
            return .failure(.invalidAssignment("broker \(unknown) is not registered in the cluster"))
        }
        if !allowReplicationFactorChange, target.count != original.count {
            return .failure(.replicationFactorChange(
                "the target has \(target.count) replicas, the partition \(original.count), and the request forbids changing that"))
        }
        if target == current.replicas, !current.isReassigning { return .success(nil) }
        var next = current
        next.replicas = target + original.filter { !target.contains($0) }
        next.addingReplicas = target.filter { !original.contains($0) }
        next.removingReplicas = original.filter { !target.contains($0) }
        // Replicas a replaced reassignment was adding, and that this one does not want, go.
        next.isr = current.isr.filter { next.replicas.contains($0) }
        guard !next.isr.isEmpty else {
            return .failure(.invalidAssignment("the new target drops every in-sync replica; cancel the running reassignment first"))
        }
        let completed = completion(of: next, live: live) ?? next
        return .success(finished(current, completed, live: live))
    }

    /// The completed state of a reassignment whose target replicas are all in the ISR; nil
    /// while it must wait (a target replica is behind, or no target replica can lead).
    public static func completion(of state: PartitionState, live: Set<Int32>) -> PartitionState? {
        guard state.isReassigning else { return nil }
        let target = state.targetReplicas
        guard target.allSatisfy(state.isr.contains) else { return nil }
        var next = state
        next.replicas = target
        next.isr = state.isr.filter { target.contains($0) }
        next.addingReplicas = []
        next.removingReplicas = []
        if !target.contains(state.leader) {
            guard let leader = target.first(where: { live.contains($0) && next.isr.contains($0) }) else { return nil }
            next.leader = leader
        }
        return next
    }

    /// `next` with the epochs a write of it needs: the partition epoch always moves, the
    /// leader epoch when the leader changed or a replica left (`needsNewLeaderEpoch`).
    private static func finished(_ current: PartitionState, _ next: PartitionState, live: Set<Int32>) -> PartitionState {
        var next = next
        if !next.replicas.contains(next.leader) {
            // A cancel that takes the leader away (it was an added replica).
            next.leader = next.replicas.first { live.contains($0) && next.isr.contains($0) } ?? -1
        }
        if current.needsNewLeaderEpoch(for: next) { next.leaderEpoch = current.leaderEpoch + 1 }
        next.partitionEpoch = current.partitionEpoch + 1
        return next
    }
}
