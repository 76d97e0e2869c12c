import Logging
import RunnelCoordinator
import RunnelProtocol
import RunnelStorage

/// Writes the group coordinator's records to `__consumer_offsets`, one append at a time. The
/// topic is compacted: the log cleaner keeps each partition down to the last record of every
/// key. `rewrite` serves the one-time migration of records in Runnel's older format.
///
/// An actor, so appends and rewrites are ordered: each append and the state change it makes
/// happen together, synchronously, inside it — the state always matches the log's order, and a
/// rewrite never misses an appended record. Only the wait for durability (flush.messages=1)
/// happens after, before the caller answers its client.
actor CoordinatorLog {
    private let replicas: ReplicaManager
    private let logger: Logger

    init(replicas: ReplicaManager, logger: Logger) {
        self.replicas = replicas
        self.logger = logger
    }

    /// Appends records (acks=all) and `apply`s them, then waits until they are durable.
    /// Returns a Kafka error code.
    func write(_ records: [CoordinatorRecord], to partition: Int32, now: Int64, apply: @Sendable ([CoordinatorRecord]) -> Void) async -> Int16 {
        guard !records.isEmpty else { return 0 }
        switch append(records, to: partition, now: now) {
        case .appended(let result, _, let replicated):
            apply(records)
            return await waitUntilAcknowledged(partition: partition, nextOffset: result.nextOffset, replicated: replicated)
        case .failed(let code, let message):
            logger.error("writing to \(GroupCoordinatorRuntime.offsetsTopic)-\(partition) failed: \(message)")
            return Self.coordinatorError(for: code).rawValue
        }
    }

    /// Appends `live()` (the current records of the groups the partition holds, encoded in
    /// Kafka's format) and moves the log start up to them, so everything before goes with the
    /// old segments. A crash in between leaves both, which replay in order to the same state.
    /// `isLoaded` says whether this broker still holds the partition's groups: if not (it moved
    /// away), nothing is written and the log start stays. Returns whether the rewrite happened.
    @discardableResult
    func rewrite(partition: Int32, now: Int64, isLoaded: @Sendable () -> Bool, live: @Sendable () -> [CoordinatorRecord]) async -> Bool {
        guard isLoaded() else { return false }
        let records = live()
        // With no live record there is nothing to rewrite; the older records replay to nothing
        // and the log start never moves past records it did not replace.
        guard !records.isEmpty else { return true }
        let topicPartition = TopicPartition(topic: GroupCoordinatorRuntime.offsetsTopic, partition: partition)
        var snapshotStart: Int64?
        var last: (nextOffset: Int64, replicated: Bool)?
        for chunk in stride(from: 0, to: max(records.count, 1), by: 1000).map({ Array(records[$0..<min($0 + 1000, records.count)]) }) {
            guard !chunk.isEmpty else { break }
            guard case .appended(let result, _, let replicated) = append(chunk, to: partition, now: now) else { return false }
            snapshotStart = snapshotStart ?? result.baseOffset
            last = (result.nextOffset, replicated)
        }
        // The log start may only move up to the high watermark: the rewritten records must be
        // on the in-sync replicas (and durable) first.
        if let last, await waitUntilAcknowledged(partition: partition, nextOffset: last.nextOffset, replicated: last.replicated) != 0 {
            logger.error("the rewrite of \(topicPartition) was not acknowledged; it is tried again")
            return false
        }
        guard let start = snapshotStart, isLoaded(), let log = replicas.partition(topicPartition)?.log else { return false }
        do {
            try log.deleteRecords(before: start)
            logger.info("rewrote \(records.count) live records of \(topicPartition) in Kafka's format; log start is now \(start)")
            return true
        } catch {
            logger.error("moving the log start of \(topicPartition) failed: \(error)")
            return false
        }
    }

    /// The synchronous append: no suspension, so appends leave this actor in order.
    private func append(_ records: [CoordinatorRecord], to partition: Int32, now: Int64) -> ReplicaManager.AppendOutcome {
        var builder = RecordBatchBuilder()
        for record in records { builder.append(key: record.key, value: record.value, timestamp: now) }
        let batch: RecordBatch
        do {
            batch = try RecordBatch(validating: builder.build())
        } catch {
            return .failed(.unknownServerError, "encoding coordinator records: \(error)")
        }
        let topicPartition = TopicPartition(topic: GroupCoordinatorRuntime.offsetsTopic, partition: partition)
        return replicas.appendNow(batch, to: topicPartition, acks: -1, minInsyncReplicas: 1)
    }

    /// How long a write waits for the in-sync replicas (Kafka's `offsets.commit.timeout.ms`).
    static let commitTimeoutMs: Int64 = 5000

    /// Waits until the write is durable (under fsync-before-acknowledge) and on every in-sync
    /// replica: group state is acknowledged like an acks=all produce.
    private func waitUntilAcknowledged(partition: Int32, nextOffset: Int64, replicated: Bool) async -> Int16 {
        let topicPartition = TopicPartition(topic: GroupCoordinatorRuntime.offsetsTopic, partition: partition)
        guard let hosted = replicas.partition(topicPartition) else { return KafkaErrorCode.notCoordinator.rawValue }
        let needsSync = hosted.log.config.syncsBeforeAcknowledge
        guard needsSync || !replicated else { return 0 }
        let pending = ReplicaManager.PendingAck(partition: hosted, offset: nextOffset, needsSync: needsSync, needsReplication: !replicated)
        guard let (code, message) = await replicas.waitUntilAcknowledged([pending], timeoutMs: Self.commitTimeoutMs)[topicPartition] else {
            return 0
        }
        logger.error("writing to \(topicPartition) was not acknowledged: \(message)")
        return Self.coordinatorError(for: code).rawValue
    }

    /// What a group request answers when its write failed (GroupMetadataManager's mapping):
    /// clients look for the coordinator again, or retry.
    static func coordinatorError(for code: KafkaErrorCode) -> KafkaErrorCode {
        switch code {
        case .unknownTopicOrPartition, .notEnoughReplicas, .notEnoughReplicasAfterAppend: .coordinatorNotAvailable
        case .notLeaderOrFollower, .kafkaStorageError: .notCoordinator
        case .requestTimedOut: .requestTimedOut
        default: code
        }
    }
}
