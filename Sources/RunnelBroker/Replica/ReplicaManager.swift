import Logging
import RunnelCluster
import RunnelProtocol
import RunnelStorage
import Synchronization

/// The partitions this broker hosts, their roles, and the paths every write and read takes:
/// leader appends with acks, high-watermark movement, and the fetch waiting room.
public final class ReplicaManager: Sendable {
    public let brokerId: Int32
    let logManager: LogManager
    let waitingRoom = FetchWaitingRoom()
    private let partitions = Mutex<[TopicPartition: Partition]>([:])
    private let logger: Logger

    init(brokerId: Int32, logManager: LogManager, logger: Logger) {
        self.brokerId = brokerId
        self.logManager = logManager
        self.logger = logger
    }

    public func partition(_ topicPartition: TopicPartition) -> Partition? {
        partitions.withLock { $0[topicPartition] }
    }

    /// Makes this broker the leader of every partition of `topic` (single node: ISR = itself),
    /// creating the logs that do not exist yet.
    func becomeLeader(of topic: TopicMetadata, config: LogConfig) throws {
        for index in 0..<topic.partitionCount {
            let topicPartition = TopicPartition(topic: topic.name, partition: index)
            if partition(topicPartition) != nil { continue }
            // createLog returns the existing log if a concurrent caller made it first.
            let log = try logManager.log(for: topicPartition) ?? logManager.createLog(for: topicPartition, config: config)
            // On one node every append is "replicated" once written: the high watermark is the log end.
            log.updateHighWatermark(log.offsets.logEndOffset)
            let hosted = Partition(topicPartition: topicPartition, log: log, role: .leader(epoch: 0, inSyncReplicas: [brokerId]))
            partitions.withLock { partitions in
                if partitions[topicPartition] == nil { partitions[topicPartition] = hosted }
            }
        }
    }

    /// Applies a topic's changed configuration to its logs.
    func update(topic: TopicMetadata, config: LogConfig) throws {
        for index in 0..<topic.partitionCount {
            try partition(TopicPartition(topic: topic.name, partition: index))?.log.update(config: config)
        }
    }

    func removePartitions(of topic: TopicMetadata) throws {
        for index in 0..<topic.partitionCount {
            let topicPartition = TopicPartition(topic: topic.name, partition: index)
            partitions.withLock { _ = $0.removeValue(forKey: topicPartition) }
            try logManager.deleteLog(for: topicPartition)
            waitingRoom.notifyAppend(to: topicPartition)
        }
    }

    public enum AppendOutcome: Sendable {
        case appended(PartitionLog.AppendResult, logStartOffset: Int64)
        case failed(KafkaErrorCode, String)
    }

    /// What an append must still wait for before it is acknowledged: the fsync of its log up to
    /// `offset` (`flush.messages=1`, group commit).
    struct PendingSync: Sendable {
        let topicPartition: TopicPartition
        let log: PartitionLog
        let offset: Int64
    }

    /// Appends a validated batch as leader. `acks` 0 and 1 are done once it is written; `-1`
    /// (all) also needs the ISR to be at least `min.insync.replicas` — on one node, 1. With
    /// `flush.messages=1` the acknowledgement must also wait for the returned `PendingSync`:
    /// a produce request appends to all its partitions first and then waits for their fsyncs
    /// together, so they overlap instead of running one after another.
    func appendAsLeader(
        _ batch: RecordBatch, to topicPartition: TopicPartition, acks: Int16, minInsyncReplicas: Int32
    ) -> (AppendOutcome, PendingSync?) {
        guard let partition = partition(topicPartition) else { return (Self.notHosted, nil) }
        let written = append(batch, to: partition, acks: acks, minInsyncReplicas: minInsyncReplicas)
        guard case .appended(let result, _) = written, acks != 0, partition.log.config.syncsBeforeAcknowledge else { return (written, nil) }
        return (written, PendingSync(topicPartition: topicPartition, log: partition.log, offset: result.nextOffset))
    }

    /// Waits for every pending fsync at once; returns the partitions whose fsync failed.
    func waitUntilDurable(_ pending: [PendingSync]) async -> Set<TopicPartition> {
        guard !pending.isEmpty else { return [] }
        let logger = logger
        return await withTaskGroup(of: TopicPartition?.self) { group in
            for sync in pending {
                group.addTask {
                    do {
                        try await sync.log.waitUntilDurable(sync.offset)
                        return nil
                    } catch {
                        logger.error("fsync of \(sync.topicPartition) failed: \(error)")
                        return sync.topicPartition
                    }
                }
            }
            var failed: Set<TopicPartition> = []
            for await partition in group { if let partition { failed.insert(partition) } }
            return failed
        }
    }

    /// The synchronous part of a leader append: checks, the write, the high watermark and the
    /// wake-up of waiting fetches. Callers that must order appends (the group coordinator's
    /// log) call it directly, then wait for durability themselves.
    func appendNow(
        _ batch: RecordBatch, to topicPartition: TopicPartition, acks: Int16, minInsyncReplicas: Int32
    ) -> AppendOutcome {
        guard let partition = partition(topicPartition) else { return Self.notHosted }
        return append(batch, to: partition, acks: acks, minInsyncReplicas: minInsyncReplicas)
    }

    private static let notHosted = AppendOutcome.failed(.unknownTopicOrPartition, "This server does not host this topic-partition.")

    private func append(_ batch: RecordBatch, to partition: Partition, acks: Int16, minInsyncReplicas: Int32) -> AppendOutcome {
        let topicPartition = partition.topicPartition
        guard partition.isLeader else { return .failed(.notLeaderOrFollower, "This server is not the leader for that topic-partition.") }
        if acks == -1, partition.inSyncReplicas.count < Int(minInsyncReplicas) {
            return .failed(
                .notEnoughReplicas, "The in-sync replicas (\(partition.inSyncReplicas.count)) are fewer than min.insync.replicas (\(minInsyncReplicas)).")
        }
        do {
            let result = try partition.log.append(batch, leaderEpoch: partition.leaderEpoch)
            if !result.isDuplicate {
                partition.log.updateHighWatermark(result.nextOffset)
                waitingRoom.notifyAppend(to: topicPartition)
            }
            return .appended(result, logStartOffset: partition.log.offsets.logStartOffset)
        } catch let error as ProducerStateError {
            return .failed(error.kafkaErrorCode, error.detail)
        } catch let error as StorageError where error.code == .batchTooLarge {
            return .failed(.recordListTooLarge, error.detail)
        } catch {
            logger.error("append to \(topicPartition) failed: \(error)")
            return .failed(.unknownServerError, "\(error)")
        }
    }
}
