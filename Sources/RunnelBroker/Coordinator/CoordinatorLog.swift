import Logging
import RunnelCoordinator
import RunnelProtocol
import RunnelStorage

/// Writes the group coordinator's records to `__consumer_offsets`, one append at a time, and
/// keeps each partition small: once a partition holds many more records than live offsets, a
/// snapshot of the live ones is appended and the log start moves up to it, so the old records
/// go at the next retention pass and a restart replays only the snapshot and what followed.
///
/// An actor, so appends and snapshots are ordered: each append happens synchronously inside
/// it, and a snapshot is never taken while an appended record is not yet applied to the state
/// (that record would be below the snapshot and lost at the next restart).
actor CoordinatorLog {
    private let replicas: ReplicaManager
    private let logger: Logger
    private var appendedSinceSnapshot: [Int32: Int] = [:]
    private var unapplied: [Int32: Int] = [:]
    /// A snapshot is due once a partition has this many records beyond its live ones.
    static let snapshotSlack = 1000

    init(replicas: ReplicaManager, logger: Logger) {
        self.replicas = replicas
        self.logger = logger
    }

    /// Appends records (acks=all), waits until they are durable, then `apply`s them: the state
    /// changes only once the log has them. Returns a Kafka error code.
    func write(_ records: [CoordinatorRecord], to partition: Int32, now: Int64, apply: @Sendable ([CoordinatorRecord]) -> Void) async -> Int16 {
        guard !records.isEmpty else { return 0 }
        unapplied[partition, default: 0] += 1
        defer { unapplied[partition, default: 1] -= 1 }
        let outcome = await append(records, to: partition, now: now)
        guard case .appended = outcome else {
            if case .failed(let code, let message) = outcome {
                logger.error("writing to \(GroupCoordinatorRuntime.offsetsTopic)-\(partition) failed: \(message)")
                return code == .unknownTopicOrPartition ? KafkaErrorCode.coordinatorNotAvailable.rawValue : code.rawValue
            }
            return KafkaErrorCode.unknownServerError.rawValue
        }
        apply(records)
        appendedSinceSnapshot[partition, default: 0] += records.count
        return 0
    }

    /// Snapshots a partition when it has grown well past its live records. `live` gives the
    /// current records of the groups the partition holds.
    func compactIfDue(partition: Int32, now: Int64, live: @Sendable () -> [CoordinatorRecord]) async {
        let records = live()
        guard appendedSinceSnapshot[partition, default: 0] > records.count + Self.snapshotSlack,
              unapplied[partition, default: 0] == 0
        else { return }
        appendedSinceSnapshot[partition] = 0
        let topicPartition = TopicPartition(topic: GroupCoordinatorRuntime.offsetsTopic, partition: partition)
        var snapshotStart: Int64?
        for chunk in stride(from: 0, to: max(records.count, 1), by: 1000).map({ Array(records[$0..<min($0 + 1000, records.count)]) }) {
            guard !chunk.isEmpty else { break }
            guard case .appended(let result, _) = await append(chunk, to: partition, now: now) else { return }
            snapshotStart = snapshotStart ?? result.baseOffset
        }
        guard let log = replicas.partition(topicPartition)?.log else { return }
        let start = snapshotStart ?? log.offsets.logEndOffset
        do {
            try log.deleteRecords(before: start)
            logger.info("snapshotted \(records.count) live records of \(topicPartition); log start is now \(start)")
        } catch {
            logger.error("moving the log start of \(topicPartition) failed: \(error)")
        }
    }

    private func append(_ records: [CoordinatorRecord], to partition: Int32, now: Int64) async -> ReplicaManager.AppendOutcome {
        var builder = RecordBatchBuilder()
        for record in records { builder.append(key: record.key, value: record.value, timestamp: now) }
        let batch: RecordBatch
        do {
            batch = try RecordBatch(validating: builder.build())
        } catch {
            return .failed(.unknownServerError, "encoding coordinator records: \(error)")
        }
        let topicPartition = TopicPartition(topic: GroupCoordinatorRuntime.offsetsTopic, partition: partition)
        // The write itself is synchronous here, so appends leave this actor in order.
        let written = replicas.appendNow(batch, to: topicPartition, acks: -1, minInsyncReplicas: 1)
        if case .appended(let result, _) = written, let log = replicas.partition(topicPartition)?.log, log.config.syncsBeforeAcknowledge {
            do { try await log.waitUntilDurable(result.nextOffset) } catch { return .failed(.unknownServerError, "\(error)") }
        }
        return written
    }
}
