import Logging
import RunnelCluster
import Synchronization

/// This broker's registration in the cluster and the answer to "may I act as leader now?".
///
/// It registers once at start-up (refused if another live process holds the id), then watches
/// its lease: when the lease is lost (etcd unreachable past the TTL, or expired) the broker
/// stops acknowledging as leader at once — `mayLead()` turns false before any other broker can
/// have been given its partitions — and registers again, under a new lease, as soon as etcd
/// answers. The controller then sees a broker that left and came back, and re-elects.
///
/// Concurrency: the lease sits in a `Mutex`; one task re-registers.
final class ClusterMembership: Sendable {
    private let store: any MetadataStore
    private let logger: Logger
    private let lease = Mutex<(any BrokerLease)?>(nil)
    private let registration = Mutex<BrokerRegistration?>(nil)
    private let watcher = Mutex<Task<Void, Never>?>(nil)
    /// The revision of the metadata image this broker has applied.
    private let appliedRevision: @Sendable () -> Int64

    init(store: any MetadataStore, logger: Logger, appliedRevision: @escaping @Sendable () -> Int64) {
        self.store = store
        self.logger = logger
        self.appliedRevision = appliedRevision
    }

    /// True while this broker's lease is certainly alive and the metadata it has applied is
    /// at least as new as its registration: a broker that registers again after a lapse must
    /// first learn what changed meanwhile (leadership may have moved). Checked before every
    /// leader append and acknowledgement.
    func mayLead() -> Bool {
        guard let current = lease.withLock({ $0 }), current.isValid() else { return false }
        return appliedRevision() >= current.registrationRevision
    }

    /// The current lease (the controller campaigns under it).
    var currentLease: (any BrokerLease)? { lease.withLock { $0 } }

    /// Registers (or re-registers with a changed address) and starts watching the lease.
    func join(_ registration: BrokerRegistration) async throws {
        // The watcher of a previous registration goes first: releasing that lease would wake
        // it, and it would register again (revoking the lease just granted).
        watcher.withLock { $0?.cancel() }
        let previous = lease.withLock { $0 }
        if let previous, !(store is EmbeddedMetadataStore) { await previous.release() }
        let granted = try await store.register(registration)
        self.registration.withLock { $0 = registration }
        lease.withLock { $0 = granted }
        watch(granted)
    }

    private func watch(_ granted: any BrokerLease) {
        let task = Task { [weak self] in
            await granted.lost()
            guard !Task.isCancelled, let self else { return }
            self.logger.error(
                "the metadata lease is lost (etcd unreachable or the lease expired): no longer acknowledging as leader; registering again")
            await self.rejoin()
        }
        watcher.withLock { $0?.cancel(); $0 = task }
    }

    private func rejoin() async {
        var backoff = Duration.milliseconds(200)
        while !Task.isCancelled {
            guard let registration = registration.withLock({ $0 }) else { return }
            do {
                let granted = try await store.register(registration)
                lease.withLock { $0 = granted }
                logger.info("registered again as broker \(registration.brokerId)")
                watch(granted)
                return
            } catch {
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(2))
            }
        }
    }

    /// Ends the registration (clean shutdown): the controller moves leadership at once.
    func leave() async {
        watcher.withLock { $0?.cancel() }
        let current = lease.withLock { lease in
            defer { lease = nil }
            return lease
        }
        await current?.release()
    }
}
