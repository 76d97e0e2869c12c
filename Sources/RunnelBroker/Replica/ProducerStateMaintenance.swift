import Logging
import RunnelStorage

/// Kafka's periodic producer-id expiration check: every
/// `producer.id.expiration.check.interval.ms`, each partition forgets the idempotent producers
/// whose latest batch is `producer.id.expiration.ms` old, so the producer map (and every
/// snapshot of it) does not grow with each producer id ever seen. The same pass logs the roll
/// snapshots a partition could not write (they are written outside its lock, by an append that
/// has already succeeded and cannot report them).
///
/// Stateless: the logs hold the state, each behind its own lock.
struct ProducerStateMaintenance: Sendable {
    let logManager: LogManager
    let expirationMs: Int64
    let checkInterval: Duration
    let logger: Logger
    var clock: @Sendable () -> Int64 = PartitionLog.wallClockMilliseconds

    /// One pass over every log; returns how many producers were forgotten.
    @discardableResult
    func runOnce() -> Int {
        let now = clock()
        var removed = 0
        for log in logManager.allLogs {
            removed += log.removeExpiredProducers(now: now, expirationMs: expirationMs)
            let failures = log.takeProducerSnapshotFailures()
            if failures > 0 {
                logger.warning("\(failures) producer snapshot write(s) failed in \(log.topicPartition); a restart replays more of its log instead")
            }
        }
        return removed
    }

    /// Runs `runOnce` every `checkInterval` until the task is cancelled.
    func run() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: checkInterval)
            } catch {
                return
            }
            let removed = runOnce()
            if removed > 0 { logger.debug("expired \(removed) producer id(s) older than producer.id.expiration.ms=\(expirationMs)") }
        }
    }
}
