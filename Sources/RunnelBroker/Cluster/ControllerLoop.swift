import Logging
import RunnelCluster
import Synchronization

/// The controller duties of a broker in an etcd cluster: campaign for the controller key
/// whenever nobody holds it, and while this broker holds it, apply `ControllerLogic` to every
/// metadata image — elect leaders for partitions whose leader died, take dead brokers out of
/// ISRs, bring offline partitions back when an ISR member returns.
///
/// Every write compares the partition's version and this controller's epoch, so a deposed
/// controller (its lease gone, someone else elected) writes nothing. The key lives under the
/// broker's lease: when the controller dies, etcd deletes the key within the lease TTL and the
/// other brokers' loops campaign at the image that shows it gone.
///
/// Concurrency: one task; images arrive newest-first-wins (a slow round skips to the latest).
final class ControllerLoop: Sendable {
    private let store: EtcdMetadataStore
    private let brokerId: Int32
    private let membership: ClusterMembership
    private let logger: Logger
    /// `auto.leader.rebalance.enable`.
    private let rebalancePreferred: Bool
    /// A topic's effective `unclean.leader.election.enable`.
    private let uncleanAllowed: @Sendable (TopicMetadata) -> Bool
    private let task = Mutex<Task<Void, Never>?>(nil)

    init(
        store: EtcdMetadataStore, brokerId: Int32, membership: ClusterMembership, rebalancePreferred: Bool,
        uncleanAllowed: @escaping @Sendable (TopicMetadata) -> Bool, logger: Logger
    ) {
        self.rebalancePreferred = rebalancePreferred
        self.uncleanAllowed = uncleanAllowed
        self.store = store
        self.brokerId = brokerId
        self.membership = membership
        self.logger = logger
    }

    func start() {
        let updates = store.updates()
        let loop = Task { [self] in
            for await image in updates {
                // A round that etcd interrupted runs again on the latest image, even if no new
                // image comes (a conflict, by contrast, always brings one).
                var current = image
                while !(await round(current)), !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(500))
                    current = store.currentImage()
                }
            }
        }
        task.withLock { $0 = loop }
    }

    func stop() {
        task.withLock { $0?.cancel() }
    }

    /// One pass over `image`; false if a write could not be made and the pass should run again.
    private func round(_ image: MetadataImage) async -> Bool {
        guard let lease = membership.currentLease as? EtcdBrokerLease, lease.isValid() else { return true }
        // Only a registered broker campaigns: a controller must be in the image it manages.
        if image.controllerId == nil, image.brokers[brokerId] != nil {
            do {
                if let epoch = try await store.campaign(brokerId: brokerId, lease: lease) {
                    logger.info("broker \(brokerId) is the controller (epoch \(epoch))")
                }
            } catch {
                logger.warning("campaign for controller failed: \(error)")
                return false
            }
            return true  // the next image shows who won
        }
        guard image.controllerId == brokerId, let epoch = store.controllerEpoch(of: brokerId) else { return true }
        var done = true
        for change in ControllerLogic.leadershipChanges(in: image, rebalancePreferred: rebalancePreferred, uncleanAllowed: uncleanAllowed) {
            guard lease.isValid() else { return true }
            let before = image.partition(change.partition)
            do {
                // A leader replaced because it looks dead must really be gone in etcd: a stale
                // image must not depose a broker that has just registered again.
                let oldLeader = before?.leader ?? -1
                let deposing = oldLeader >= 0 && oldLeader != change.state.leader && image.brokers[oldLeader] == nil ? oldLeader : nil
                let result = try await store.compareAndSet(
                    change.partition, expected: change.expectedVersion, to: change.state, controllerEpoch: epoch, deposing: deposing)
                if case .committed = result {
                    logger.info(
                        "\(change.partition): leader \(before?.leader ?? -1) -> \(change.state.leader) (epoch \(change.state.leaderEpoch)), ISR \(change.state.isr)")
                }
            } catch {
                logger.warning("\(change.partition): leadership change failed, trying again: \(error)")
                done = false
            }
        }
        return done
    }
}
