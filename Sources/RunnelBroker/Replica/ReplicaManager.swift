import Foundation
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
    /// One line per partition per interval for storage failures that repeat on every request
    /// (a full disk, an offline directory), with the count of lines held back.
    private let storageFailureLog: LogLineRateLimiter

    /// The applied metadata: tells "not hosted here" (another broker leads it) from "unknown".
    private let view: MetadataView
    /// Whether this broker may act as leader now: its metadata lease is certainly alive
    /// (`ClusterMembership.mayLead`). Checked before every leader append, so a broker cut off
    /// from etcd stops acknowledging before anyone else can have been made leader.
    private let mayLead: @Sendable () -> Bool

    init(
        brokerId: Int32, logManager: LogManager, view: MetadataView, logger: Logger,
        mayLead: @escaping @Sendable () -> Bool = { true }, storageFailureLogIntervalMs: Int64 = 10_000
    ) {
        self.brokerId = brokerId
        self.logManager = logManager
        self.view = view
        self.mayLead = mayLead
        self.logger = logger
        storageFailureLog = LogLineRateLimiter(intervalMilliseconds: storageFailureLogIntervalMs)
        let waitingRoom = waitingRoom
        logManager.directoryFailures.addListener { directory, reason in
            logger.error(
                "log directory \(directory) is offline: \(reason). Its partitions answer KAFKA_STORAGE_ERROR until the broker restarts and recovers them.")
            // Long polls on its partitions answer now, with the error.
            waitingRoom.wakeAll()
        }
    }

    /// Logs a storage failure of `operation` on `partition`, rate-limited per partition.
    func logStorageFailure(_ error: StorageError, _ operation: String, _ partition: TopicPartition) {
        guard let heldBack = storageFailureLog.admit(operation + " " + partition.description) else { return }
        let suffix = heldBack > 0 ? " (\(heldBack) more like it in the last \(storageFailureLog.intervalMilliseconds / 1000) s not logged)" : ""
        logger.error("\(operation) \(partition) failed: \(error)\(suffix)")
    }

    public func partition(_ topicPartition: TopicPartition) -> Partition? {
        partitions.withLock { $0[topicPartition] }
    }

    /// Applies a metadata image — the one seam through which this broker's roles change:
    /// hosts every partition it is a replica of, in the role the image gives it (leader or
    /// follower, with the leader epoch), applies changed topic configs, and stops every
    /// partition it no longer holds, deleting its log (topic deleted, or recreated under the
    /// same name with a new id). Idempotent: applying an image twice changes nothing.
    /// Returns the partitions whose logs could not be opened or created; they stay unhosted
    /// (UNKNOWN_TOPIC_OR_PARTITION) and every other partition is served.
    func apply(_ image: MetadataImage, logConfig: (TopicMetadata) -> LogConfig) -> [(TopicPartition, any Error)] {
        applying.withLock { _ in
            var wanted: [TopicPartition: (topic: TopicMetadata, state: PartitionState)] = [:]
            for (topicPartition, versioned) in image.partitions where versioned.state.replicas.contains(brokerId) {
                guard let topic = image.topicsByName[topicPartition.topic] else { continue }
                wanted[topicPartition] = (topic, versioned.state)
            }
            // Only what the image positively says is gone goes; a partition whose state the
            // store could not decode is left as it is.
            let stale = partitions.withLock { hosted in
                hosted.values.filter { image.holds($0.topicPartition, topicId: $0.topicId, broker: brokerId) == false }
            }
            for partition in stale {
                let index = partition.topicPartition.partition
                do {
                    try removePartitions(topic: partition.topicPartition.topic, indices: index..<index + 1)
                } catch {
                    logger.error("stopping \(partition.topicPartition) failed: \(error)")
                }
            }
            var failures: [(TopicPartition, any Error)] = []
            for (topicPartition, wanted) in wanted.sorted(by: { $0.key < $1.key }) {
                let role: ReplicaRole = wanted.state.leader == brokerId
                    ? .leader(epoch: wanted.state.leaderEpoch, inSyncReplicas: Set(wanted.state.isr))
                    : .follower(leaderId: wanted.state.leader, epoch: wanted.state.leaderEpoch)
                do {
                    try host(topicPartition, of: wanted.topic, role: role, config: logConfig(wanted.topic))
                } catch {
                    failures.append((topicPartition, error))
                }
            }
            return failures
        }
    }

    /// Serializes `apply` with the topic-creation rollback, so a rollback never deletes a log
    /// that an image (another broker's creation of the same name) has just started hosting.
    private let applying = Mutex(())

    /// Hosts one partition in `role`, opening or creating its log, or updates the role and
    /// config of one already hosted.
    private func host(_ topicPartition: TopicPartition, of topic: TopicMetadata, role: ReplicaRole, config: LogConfig) throws {
        if let hosted = partition(topicPartition) {
            if hosted.log.config != config { try hosted.log.update(config: config) }
            let previous = hosted.setRole(role)
            if case .leader(let epoch, _) = role, previous != role {
                // The new epoch starts at the log end, recorded now (a follower or consumer
                // asking where the previous epoch ended gets the truth before any append).
                if epoch != previous.leaderEpoch { try hosted.log.assignEpochStart(epoch) }
                // Until followers replicate, the ISR is the leader alone: what it has is committed.
                hosted.log.updateHighWatermark(hosted.log.offsets.logEndOffset)
            }
            // A leader that stopped leading answers its long polls now (NOT_LEADER_OR_FOLLOWER).
            if previous != role { waitingRoom.notifyAppend(to: topicPartition) }
            return
        }
        var log = logManager.log(for: topicPartition)
        if let existing = log, let recorded = PartitionMetadataFile.read(directory: existing.directory), recorded != topic.id {
            // The log of an older topic of the same name (deleted and created again while this
            // broker was away, or a creation that lost the race for the name): not this topic's.
            logger.info("\(topicPartition): the log on disk belongs to topic id \(recorded), not \(topic.id); deleting it")
            try logManager.deleteLog(for: topicPartition)
            log = nil
        }
        // createLog returns the existing log if a concurrent caller made it first.
        let opened = try log ?? logManager.createLog(for: topicPartition, config: config)
        if PartitionMetadataFile.read(directory: opened.directory) == nil {
            try PartitionMetadataFile.write(topic.id, directory: opened.directory)
        }
        if opened.config != config { try opened.update(config: config) }
        if case .leader(let epoch, _) = role {
            // (An empty log at epoch 0 has nothing to answer for: its first append records it,
            // and creating many partitions does not pay a checkpoint write each.)
            if epoch > 0 || opened.offsets.logEndOffset > 0 { try opened.assignEpochStart(epoch) }
            // On one copy every append is "replicated" once written: the high watermark is the log end.
            opened.updateHighWatermark(opened.offsets.logEndOffset)
        }
        let hosted = Partition(topicPartition: topicPartition, topicId: topic.id, log: opened, role: role)
        partitions.withLock { partitions in
            if partitions[topicPartition] == nil { partitions[topicPartition] = hosted }
        }
    }

    /// Rollback of a topic creation that did not commit: deletes the logs it made for
    /// `topicId`, except any that an image has started hosting meanwhile, and the directory of
    /// one whose creation failed half-way (made, but never opened as a log). Best effort.
    func removeUnhostedLogs(topic: String, indices: [Int32], topicId: KafkaUUID) {
        applying.withLock { _ in
            for index in indices {
                let topicPartition = TopicPartition(topic: topic, partition: index)
                guard partition(topicPartition) == nil else { continue }
                if let log = logManager.log(for: topicPartition) {
                    if PartitionMetadataFile.read(directory: log.directory) == topicId { try? logManager.deleteLog(for: topicPartition) }
                    continue
                }
                for directory in logManager.directories {
                    var isDirectory: ObjCBool = false
                    let path = directory + "/" + topicPartition.directoryName
                    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                        try? FileManager.default.removeItem(atPath: path)
                    }
                }
            }
        }
    }

    /// How many partitions this broker hosts.
    var hostedCount: Int { partitions.withLock { $0.count } }

    /// Stops hosting the partitions and deletes their logs; partitions not hosted are skipped.
    /// Goes on past a failure (a rollback must remove all it can) and rethrows the first.
    func removePartitions(topic: String, indices: Range<Int32>) throws {
        var firstError: (any Error)?
        for index in indices {
            let topicPartition = TopicPartition(topic: topic, partition: index)
            partitions.withLock { _ = $0.removeValue(forKey: topicPartition) }
            do {
                try logManager.deleteLog(for: topicPartition)
            } catch {
                firstError = firstError ?? error
            }
            waitingRoom.notifyAppend(to: topicPartition)
        }
        if let firstError { throw firstError }
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
        guard let partition = partition(topicPartition) else { return (notHosted(topicPartition), nil) }
        let written = append(batch, to: partition, acks: acks, minInsyncReplicas: minInsyncReplicas)
        guard case .appended(let result, _) = written, partition.log.config.syncsBeforeAcknowledge else { return (written, nil) }
        let pending = PendingSync(topicPartition: topicPartition, log: partition.log, offset: result.nextOffset)
        guard acks != 0 else {
            // No one waits for an acks=0 append, but consumers see it only once it is durable
            // (the high watermark moves at the fsync), so its fsync must run all the same.
            Task { _ = await self.waitUntilDurable([pending]) }
            return (written, nil)
        }
        return (written, pending)
    }

    /// Waits for every pending fsync at once; returns the partitions whose fsync failed.
    /// Each fsync that succeeds has moved its log's high watermark: the fetches waiting on that
    /// partition are woken here, not at the append.
    func waitUntilDurable(_ pending: [PendingSync]) async -> Set<TopicPartition> {
        guard !pending.isEmpty else { return [] }
        return await withTaskGroup(of: TopicPartition?.self) { group in
            for sync in pending {
                group.addTask {
                    do {
                        try await sync.log.waitUntilDurable(sync.offset)
                        self.waitingRoom.notifyAppend(to: sync.topicPartition)
                        return nil
                    } catch let error as StorageError {
                        self.logStorageFailure(error, "fsync of", sync.topicPartition)
                        return sync.topicPartition
                    } catch {
                        self.logger.error("fsync of \(sync.topicPartition) failed: \(error)")
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
        guard let partition = partition(topicPartition) else { return notHosted(topicPartition) }
        return append(batch, to: partition, acks: acks, minInsyncReplicas: minInsyncReplicas)
    }

    /// Whether this broker may acknowledge as leader now (its lease is alive and its metadata
    /// current); checked at the append and again before an answer that waited for an fsync.
    func mayAcknowledge() -> Bool { mayLead() }

    /// The error for a partition this broker does not host: NOT_LEADER_OR_FOLLOWER when the
    /// cluster has it (clients refresh metadata and go to its leader), else UNKNOWN_TOPIC_OR_PARTITION.
    func notHostedError(_ topicPartition: TopicPartition) -> KafkaErrorCode {
        view.image.partition(topicPartition) != nil ? .notLeaderOrFollower : .unknownTopicOrPartition
    }

    private func notHosted(_ topicPartition: TopicPartition) -> AppendOutcome {
        .failed(notHostedError(topicPartition), "This server does not host this topic-partition.")
    }

    private func append(_ batch: RecordBatch, to partition: Partition, acks: Int16, minInsyncReplicas: Int32) -> AppendOutcome {
        let topicPartition = partition.topicPartition
        guard partition.isLeader else { return .failed(.notLeaderOrFollower, "This server is not the leader for that topic-partition.") }
        guard mayLead() else {
            return .failed(.notLeaderOrFollower, "This server's cluster membership lapsed; it may no longer lead that topic-partition.")
        }
        if acks == -1, partition.inSyncReplicas.count < Int(minInsyncReplicas) {
            return .failed(
                .notEnoughReplicas, "The in-sync replicas (\(partition.inSyncReplicas.count)) are fewer than min.insync.replicas (\(minInsyncReplicas)).")
        }
        do {
            let result = try partition.log.append(batch, leaderEpoch: partition.leaderEpoch)
            if !result.isDuplicate {
                // Under fsync-before-acknowledge the log keeps the high watermark at the durable
                // offset; it moves (and fetches are woken) when the fsync completes.
                partition.log.updateHighWatermark(result.nextOffset)
                if !partition.log.config.syncsBeforeAcknowledge { waitingRoom.notifyAppend(to: topicPartition) }
            }
            return .appended(result, logStartOffset: partition.log.offsets.logStartOffset)
        } catch let error as ProducerStateError {
            return .failed(error.kafkaErrorCode, error.detail)
        } catch let error as StorageError where error.isStorageFailure {
            // Disk full, I/O error, offline directory: retriable for clients, and the same line
            // for every append while it lasts, so logged once per partition per interval.
            logStorageFailure(error, "append to", topicPartition)
            return .failed(.kafkaStorageError, error.detail)
        } catch let error as StorageError where error.code == .batchTooLarge {
            return .failed(.recordListTooLarge, error.detail)
        } catch {
            logger.error("append to \(topicPartition) failed: \(error)")
            return .failed(.unknownServerError, "\(error)")
        }
    }
}
