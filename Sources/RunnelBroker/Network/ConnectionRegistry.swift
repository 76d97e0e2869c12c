import NIOCore
import Synchronization

/// The open client connections and the requests in flight on them, so that shutdown can close
/// every connection and wait for running requests to finish before the event loops stop.
final class ConnectionRegistry: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])
    private let inFlight = Atomic<Int>(0)

    func register(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        channels.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { [weak self] _ in
            self?.channels.withLock { _ = $0.removeValue(forKey: id) }
        }
    }

    func requestStarted() { inFlight.wrappingAdd(1, ordering: .relaxed) }
    func requestFinished() { inFlight.wrappingSubtract(1, ordering: .relaxed) }

    /// Closes every connection, then waits (up to `timeout`) for running requests to end.
    func closeAll(timeout: Duration) async {
        for channel in channels.withLock({ Array($0.values) }) {
            try? await channel.close()
        }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while inFlight.load(ordering: .relaxed) > 0, clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}
