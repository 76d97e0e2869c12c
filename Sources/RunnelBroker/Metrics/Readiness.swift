import Synchronization

/// Whether the broker serves Kafka clients yet, for `GET /readyz`.
///
/// Ready once its logs are loaded and the Kafka listener is bound (`markListening`) and, in a
/// cluster, while it is registered and every partition it holds a replica of lists it in the
/// ISR: a broker restarted after downtime is not ready until its followers have caught up,
/// which is when a rolling restart may take the next broker down.
///
/// Thread-safe: one atomic flag; the cluster check reads the broker's own thread-safe parts.
public final class Readiness: Sendable {
    public enum Status: Sendable, Equatable {
        case ready
        case notReady(String)
    }

    private let listening = Atomic<Bool>(false)
    /// In a cluster: why this broker is not yet caught up (nil when it is).
    private let caughtUp: @Sendable () -> String?

    init(caughtUp: @escaping @Sendable () -> String? = { nil }) {
        self.caughtUp = caughtUp
    }

    func markListening() { listening.store(true, ordering: .releasing) }

    public var status: Status {
        guard listening.load(ordering: .acquiring) else { return .notReady("starting: loading logs and binding the listener") }
        if let behind = caughtUp() { return .notReady(behind) }
        return .ready
    }
}
