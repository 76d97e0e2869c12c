import Logging
import RunnelCluster
import RunnelProtocol
import RunnelWire
import Synchronization

/// The follower side of replication: one `ReplicaFetcher` per leader this broker follows
/// partitions of (Kafka's `num.replica.fetchers=1`), each with one connection to that leader.
///
/// Concurrency: `update` is called by `ReplicaManager.apply` (one image at a time); the map of
/// fetchers is behind a mutex; each fetcher runs its own task.
final class ReplicaFetcherManager: Sendable {
    struct Settings: Sendable {
        var waitMaxMs: Int32 = 500
        var partitionMaxBytes: Int32 = 1_048_576
        var responseMaxBytes: Int32 = 10_485_760
        var backoffMs: Int64 = 1000
    }

    /// A partition to follow: its leader and the leader epoch the metadata gives.
    struct Target: Sendable {
        let partition: Partition
        let leaderId: Int32
        let leaderEpoch: Int32
    }

    let brokerId: Int32
    let settings: Settings
    let logger: Logger
    /// One line per partition and failure kind per 10 s: a fetcher retries a failing
    /// partition every backoff, and each retry fails the same way until someone acts.
    private let failureLines = LogLineRateLimiter(intervalMilliseconds: 10_000)
    private let fetchers = Mutex<[Int32: ReplicaFetcher]>([:])
    /// Set by `stopAll`: a broker shutting down follows nobody again.
    private let stopped = Mutex(false)

    init(brokerId: Int32, settings: Settings, logger: Logger) {
        self.brokerId = brokerId
        self.settings = settings
        self.logger = logger
    }

    /// Logs a follower failure of `kind` on `partition` at error level, rate-limited.
    func logFailure(_ kind: String, _ partition: TopicPartition, _ message: @autoclosure () -> String) {
        guard let heldBack = failureLines.admit("\(kind) \(partition)") else { return }
        let suffix = heldBack > 0 ? " (\(heldBack) more like it in the last \(failureLines.intervalMilliseconds / 1000) s not logged)" : ""
        logger.error("\(partition): \(message())\(suffix)")
    }

    /// Makes the fetchers follow exactly `targets`: starts a fetcher for a new leader, hands
    /// each its partitions (a partition whose leader epoch changed starts over with
    /// truncation), stops the fetchers of leaders no longer followed.
    func update(_ targets: [TopicPartition: Target], brokers: [Int32: BrokerRegistration]) {
        var byLeader: [Int32: [TopicPartition: Target]] = [:]
        for (topicPartition, target) in targets { byLeader[target.leaderId, default: [:]][topicPartition] = target }
        if stopped.withLock({ $0 }) { return }
        let stopped: [ReplicaFetcher] = fetchers.withLock { fetchers in
            for (leader, partitions) in byLeader {
                let address = brokers[leader].map { BrokerAddress(host: $0.host, port: Int($0.port)) }
                if let fetcher = fetchers[leader] {
                    fetcher.follow(partitions, address: address)
                } else {
                    let fetcher = ReplicaFetcher(leaderId: leader, manager: self)
                    fetcher.follow(partitions, address: address)
                    fetcher.start()
                    fetchers[leader] = fetcher
                }
            }
            let gone = fetchers.keys.filter { byLeader[$0] == nil }
            return gone.compactMap { fetchers.removeValue(forKey: $0) }
        }
        for fetcher in stopped { fetcher.cancel() }
    }

    func stopAll() async {
        stopped.withLock { $0 = true }
        let all = fetchers.withLock { fetchers in
            defer { fetchers = [:] }
            return Array(fetchers.values)
        }
        for fetcher in all { await fetcher.stop() }
    }
}
