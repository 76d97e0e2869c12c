import Synchronization

/// A broker's etcd lease, kept alive every TTL/3, and the answer to "may I still act as
/// leader?" that every acknowledgement asks.
///
/// The timing argument: each renewal records the monotonic instant *before* its request is
/// sent; etcd extends the lease to (its receive time + TTL), which is later. So the lease is
/// certainly alive until `sent + TTL`, less a margin for clock-rate error (1 %) and
/// scheduling (100 ms). The controller moves leadership only after it sees the registration
/// deleted, which etcd does only after the lease expired; so while `isValid()` holds, no other
/// broker can have been given this broker's partitions. A renewal that fails (etcd down,
/// partitioned away) changes nothing; once the deadline passes the lease counts as lost, for
/// good — a new registration takes a new lease.
///
/// Concurrency: the deadline and the waiters sit in one `Mutex`; one keep-alive task.
public final class EtcdBrokerLease: BrokerLease, Sendable {
    public let id: Int64
    public let ttlSeconds: Int64
    private let client: EtcdClient
    private struct State {
        var validUntil: ContinuousClock.Instant
        var registrationRevision: Int64 = .max
        var lost = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state: Mutex<State>
    private let keeper = Mutex<Task<Void, Never>?>(nil)
    static let clockRateMargin = 0.01
    static let schedulingMargin = Duration.milliseconds(100)

    /// Grants a lease; `validUntil` counts from before the request was sent.
    static func grant(client: EtcdClient, ttlSeconds: Int64) async throws -> EtcdBrokerLease {
        let sent = ContinuousClock.now
        let granted = try await client.grantLease(ttlSeconds: ttlSeconds)
        let lease = EtcdBrokerLease(client: client, id: granted.id, ttlSeconds: granted.ttlSeconds, validUntil: deadline(sent, granted.ttlSeconds))
        lease.startKeepingAlive()
        return lease
    }

    private init(client: EtcdClient, id: Int64, ttlSeconds: Int64, validUntil: ContinuousClock.Instant) {
        self.client = client
        self.id = id
        self.ttlSeconds = ttlSeconds
        state = Mutex(State(validUntil: validUntil))
    }

    static func deadline(_ sent: ContinuousClock.Instant, _ ttlSeconds: Int64) -> ContinuousClock.Instant {
        sent + .seconds(Double(ttlSeconds) * (1 - clockRateMargin)) - schedulingMargin
    }

    public func isValid() -> Bool {
        state.withLock { !$0.lost && ContinuousClock.now < $0.validUntil }
    }

    /// Set once the registration under this lease committed; `.max` until then.
    public var registrationRevision: Int64 { state.withLock { $0.registrationRevision } }

    func registered(at revision: Int64) {
        state.withLock { $0.registrationRevision = revision }
    }

    /// The instant until which the lease is certainly alive.
    public var validUntil: ContinuousClock.Instant { state.withLock { $0.validUntil } }

    public func lost() async {
        await withCheckedContinuation { continuation in
            let already = state.withLock { state in
                if state.lost { return true }
                state.waiters.append(continuation)
                return false
            }
            if already { continuation.resume() }
        }
    }

    public func release() async {
        keeper.withLock { $0?.cancel() }
        markLost()
        try? await client.revokeLease(id)
    }

    private func markLost() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.lost = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private func startKeepingAlive() {
        let period = Duration.seconds(Double(ttlSeconds) / 3)
        let task = Task { [weak self] in
            while !Task.isCancelled {
                guard let self else { return }
                // Wake for the next renewal, or at the deadline if renewals keep failing.
                let untilDeadline = self.validUntil - ContinuousClock.now
                try? await Task.sleep(for: max(.zero, min(period, untilDeadline)))
                if Task.isCancelled { return }
                if ContinuousClock.now >= self.validUntil {
                    self.markLost()
                    return
                }
                let sent = ContinuousClock.now
                do {
                    guard let granted = try await self.client.keepAlive(self.id) else {
                        // etcd says the lease is gone: its keys are deleted already.
                        self.markLost()
                        return
                    }
                    self.state.withLock { $0.validUntil = max($0.validUntil, Self.deadline(sent, granted)) }
                } catch {
                    // Unreachable now; the next round (or the deadline) decides.
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
        }
        keeper.withLock { $0 = task }
    }
}
