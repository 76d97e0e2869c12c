import Logging
import NIOCore
import Synchronization

/// The open client connections and the requests in flight on them, so that shutdown can close
/// every connection and wait for running requests to finish before the event loops stop; and
/// Kafka's connection quotas, `max.connections` and `max.connections.per.ip`, checked as each
/// connection is accepted.
///
/// Thread-safe: connections on every event loop register and leave; the state is behind mutexes.
final class ConnectionRegistry: Sendable {
    private struct Connections {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var perAddress: [String: Int] = [:]
    }

    /// A connection refused by a quota; failing the child channel's initializer with it makes
    /// NIO close the socket at once.
    struct QuotaExceeded: Error, CustomStringConvertible {
        let description: String
    }

    private let maxConnections: Int
    private let maxConnectionsPerAddress: Int
    private let connections = Mutex(Connections())
    private let inFlight = Atomic<Int>(0)
    private let logger: Logger
    /// One refusal line per 10 s, counting those held back.
    private let refusalLines = LogLineRateLimiter(intervalMilliseconds: 10_000)

    init(maxConnections: Int = Int(Int32.max), maxConnectionsPerIp: Int = Int(Int32.max), logger: Logger) {
        self.maxConnections = maxConnections
        maxConnectionsPerAddress = maxConnectionsPerIp
        self.logger = logger
    }

    var count: Int { connections.withLock { $0.channels.count } }

    /// Admits a new connection, or throws if it would exceed `max.connections` or
    /// `max.connections.per.ip` (Kafka also closes a connection past the per-IP limit; past
    /// the total it stops accepting, which leaves clients waiting in the backlog instead of
    /// telling them, so Runnel closes those too). Refusals are logged at most every 10 s.
    func admit(_ channel: any Channel) throws(QuotaExceeded) {
        let id = ObjectIdentifier(channel)
        let address = channel.remoteAddress?.ipAddress ?? "unknown"
        let refusal = connections.withLock { connections -> String? in
            if connections.channels.count >= maxConnections {
                return "max.connections (\(maxConnections))"
            }
            let fromAddress = connections.perAddress[address, default: 0]
            if fromAddress >= maxConnectionsPerAddress {
                return "max.connections.per.ip (\(maxConnectionsPerAddress)) for \(address)"
            }
            connections.channels[id] = channel
            connections.perAddress[address] = fromAddress + 1
            return nil
        }
        if let refusal {
            if let heldBack = refusalLines.admit("connection refused") {
                logger.warning("refused connections from \(address) past \(refusal); \(heldBack) more refused since the last report")
            }
            throw QuotaExceeded(description: "connection from \(address) refused: \(refusal)")
        }
        channel.closeFuture.whenComplete { [weak self] _ in
            self?.connections.withLock { connections in
                guard connections.channels.removeValue(forKey: id) != nil else { return }
                let left = connections.perAddress[address, default: 1] - 1
                connections.perAddress[address] = left > 0 ? left : nil
            }
        }
    }

    func requestStarted() { inFlight.wrappingAdd(1, ordering: .relaxed) }
    func requestFinished() { inFlight.wrappingSubtract(1, ordering: .relaxed) }

    /// Closes every connection, then waits (up to `timeout`) for running requests to end.
    func closeAll(timeout: Duration) async {
        for channel in connections.withLock({ Array($0.channels.values) }) {
            try? await channel.close()
        }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while inFlight.load(ordering: .relaxed) > 0, clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}
