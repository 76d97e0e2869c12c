import Foundation
import Logging
import RunnelCluster
import RunnelProtocol
import RunnelReplication
import RunnelStorage
import Synchronization

/// The partitions this broker hosts, their roles, and the paths every write and read takes:
/// leader appends with acks, the replication state machines of the partitions it leads (whose
/// actions it performs: high-watermark moves, acks=all answers, ISR proposals to the metadata
/// store, step-downs), the follower fetchers of the partitions it follows, and the fetch
/// waiting room.
///
/// Concurrency: the partition map is behind a mutex; each `Partition` guards its own role and
/// machine; `apply` runs one image at a time (`applying`). Actions run on the caller's thread,
/// never under a partition's lock; ISR proposals run as tasks that feed their outcome back.
public final class ReplicaManager: Sendable {
    public let brokerId: Int32
    let logManager: LogManager
    let waitingRoom = FetchWaitingRoom()
    private let partitions = Mutex<[TopicPartition: Partition]>([:])
    let logger: Logger
    /// One line per partition per interval for storage failures that repeat on every request
    /// (a full disk, an offline directory), with the count of lines held back.
    private let storageFailureLog: LogLineRateLimiter

    /// The applied metadata: tells "not hosted here" (another broker leads it) from "unknown".
    private let view: MetadataView
    /// Whether this broker may act as leader now: its metadata lease is certainly alive
    /// (`ClusterMembership.mayLead`). Checked before every leader append, so a broker cut off
    /// from etcd stops acknowledging before anyone else can have been made leader.
    private let mayLead: @Sendable () -> Bool
    /// Where ISR changes are proposed (compare-and-set on the partition state); nil in tests
    /// that apply images by hand (their proposals fail and are tried again later).
    let store: (any MetadataStore)?
    let replicaLagTimeMaxMs: Int64
    /// The follower side: one fetcher per leader this broker follows partitions of.
    let fetchers: ReplicaFetcherManager
    /// The clock tick that expires acks=all waits and shrinks the ISR of lagging followers.
    let ticker = Mutex<Task<Void, Never>?>(nil)
    /// Told the ISR before and after each ISR change of a partition this broker leads, as the
    /// metadata brings it (whoever wrote it: this leader, or the controller fencing a broker).
    let isrChanged: (@Sendable (_ before: Set<Int32>, _ after: Set<Int32>) -> Void)?

    init(
        brokerId: Int32, logManager: LogManager, view: MetadataView, logger: Logger, store: (any MetadataStore)? = nil,
        settings: ReplicaFetcherManager.Settings = .init(), replicaLagTimeMaxMs: Int64 = 30_000,
        mayLead: @escaping @Sendable () -> Bool = { true }, storageFailureLogIntervalMs: Int64 = 10_000,
        isrChanged: (@Sendable (_ before: Set<Int32>, _ after: Set<Int32>) -> Void)? = nil
    ) {
        self.isrChanged = isrChanged
        self.brokerId = brokerId
        self.logManager = logManager
        self.view = view
        self.mayLead = mayLead
        self.logger = logger
        self.store = store
        self.replicaLagTimeMaxMs = replicaLagTimeMaxMs
        fetchers = ReplicaFetcherManager(brokerId: brokerId, settings: settings, logger: logger)
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
    /// follower, with the leader epoch), applies changed topic configs, stops every partition
    /// it no longer holds, deleting its log (topic deleted, or recreated under the same name
    /// with a new id), and points the follower fetchers at the leaders. Idempotent: applying an
    /// image twice changes nothing. Returns the partitions whose logs could not be opened or
    /// created; they stay unhosted (UNKNOWN_TOPIC_OR_PARTITION) and every other partition is served.
    func apply(
        _ image: MetadataImage, logConfig: (TopicMetadata) -> LogConfig, minInsyncReplicas: (TopicMetadata) -> Int32 = { _ in 1 }
    ) -> [(TopicPartition, any Error)] {
        applying.withLock { _ in
            var wanted: [TopicPartition: (topic: TopicMetadata, state: VersionedPartitionState)] = [:]
            for (topicPartition, versioned) in image.partitions where versioned.state.replicas.contains(brokerId) {
                guard let topic = image.topicsByName[topicPartition.topic] else { continue }
                wanted[topicPartition] = (topic, versioned)
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
            let live = image.liveBrokerIds
            var followed: [TopicPartition: ReplicaFetcherManager.Target] = [:]
            for (topicPartition, wanted) in wanted.sorted(by: { $0.key < $1.key }) {
                let state = wanted.state.state
                let role: ReplicaRole = state.leader == brokerId
                    ? .leader(epoch: state.leaderEpoch) : .follower(leaderId: state.leader, epoch: state.leaderEpoch)
                let record = Self.record(of: state, version: wanted.state.version)
                // The high-watermark gate of KIP-966 takes min.insync.replicas capped by the
                // replica count (else a topic with fewer replicas than that would never show
                // its data); acks=all itself is refused below the uncapped value (`append`).
                let config = PartitionReplication.Config(
                    brokerId: brokerId, minInsyncReplicas: min(minInsyncReplicas(wanted.topic), Int32(max(1, state.replicas.count))),
                    replicaLagTimeMaxMs: replicaLagTimeMaxMs)
                do {
                    let partition = try host(
                        topicPartition, of: wanted.topic, logConfig: logConfig(wanted.topic), role: role, record: record, config: config,
                        live: live)
                    if case .follower(let leaderId, let epoch) = role, leaderId >= 0, leaderId != brokerId {
                        followed[topicPartition] = .init(partition: partition, leaderId: leaderId, leaderEpoch: epoch)
                    }
                } catch {
                    failures.append((topicPartition, error))
                }
            }
            fetchers.update(followed, brokers: image.brokers)
            return failures
        }
    }

    /// Serializes `apply` with the topic-creation rollback, so a rollback never deletes a log
    /// that an image (another broker's creation of the same name) has just started hosting.
    private let applying = Mutex(())

    /// Hosts one partition in `role`, opening or creating its log, or updates the role and
    /// config of one already hosted; then tells its replication state machine.
    private func host(
        _ topicPartition: TopicPartition, of topic: TopicMetadata, logConfig: LogConfig, role: ReplicaRole, record: LeadershipRecord,
        config: PartitionReplication.Config, live: Set<Int32>
    ) throws -> Partition {
        let partition: Partition
        let existing = self.partition(topicPartition)
        if let hosted = existing {
            if hosted.log.config != logConfig { try hosted.log.update(config: logConfig) }
            partition = hosted
        } else {
            partition = try open(topicPartition, of: topic, config: logConfig, replication: config, live: live)
        }
        let (previous, step) = try partition.apply(role: role, record: record, config: config, nowMs: Self.monotonicMilliseconds())
        if let (before, after) = partition.noteAppliedIsr(leading: role.isLeader, isr: Set(record.isr)) {
            logger.info("\(topicPartition): ISR now \(after.sorted()) (was \(before.sorted()))")
            isrChanged?(before, after)
        }
        perform(step, for: partition)
        perform(partition.handle(.liveBrokersChanged(live)), for: partition)
        if previous != role {
            // A leader that stopped leading answers its long polls now (NOT_LEADER_OR_FOLLOWER).
            waitingRoom.notifyAppend(to: topicPartition)
            let change = switch role {
            case .leader(let epoch): "leader at epoch \(epoch)"
            case .follower(let leaderId, let epoch): "follower of broker \(leaderId) at epoch \(epoch)"
            }
            logger.log(level: existing == nil ? .debug : .info, "\(topicPartition): now \(change) (was \(previous))")
        }
        return partition
    }

    /// Opens (or creates) the log of a partition this broker starts hosting.
    private func open(
        _ topicPartition: TopicPartition, of topic: TopicMetadata, config: LogConfig, replication: PartitionReplication.Config,
        live: Set<Int32>
    ) throws -> Partition {
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
        // Hosted as a follower of nobody until `apply` gives it its role.
        let created = Partition(
            topicPartition: topicPartition, topicId: topic.id, log: opened, role: .follower(leaderId: -1, epoch: -1),
            machine: PartitionReplication(config: replication, liveBrokers: live))
        return partitions.withLock { partitions in
            if let raced = partitions[topicPartition] { return raced }
            partitions[topicPartition] = created
            return created
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

    var hostedPartitions: [Partition] { partitions.withLock { Array($0.values) } }

    /// Stops hosting the partitions and deletes their logs; partitions not hosted are skipped.
    /// Goes on past a failure (a rollback must remove all it can) and rethrows the first.
    func removePartitions(topic: String, indices: Range<Int32>) throws {
        var firstError: (any Error)?
        for index in indices {
            let topicPartition = TopicPartition(topic: topic, partition: index)
            // acks=all produces waiting on it answer NOT_LEADER_OR_FOLLOWER now.
            if let removed = partitions.withLock({ $0.removeValue(forKey: topicPartition) }) {
                perform(removed.handle(.leadershipEnded), for: removed)
            }
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
        /// `replicated`: the high watermark has passed it already (acks=all need not wait).
        case appended(PartitionLog.AppendResult, logStartOffset: Int64, replicated: Bool)
        case failed(KafkaErrorCode, String)
    }

    /// What an append must still wait for before it is acknowledged: the fsync of its log up to
    /// `offset` (`flush.messages=1`, group commit) and, for acks=all, the high watermark
    /// reaching `offset` (every in-sync replica has it).
    struct PendingAck: Sendable {
        let partition: Partition
        let offset: Int64
        let needsSync: Bool
        let needsReplication: Bool
        var topicPartition: TopicPartition { partition.topicPartition }
    }

    /// Appends a validated batch as leader. `acks` 0 and 1 are done once it is written (and,
    /// with `flush.messages=1`, fsynced); `-1` (all) is refused with NOT_ENOUGH_REPLICAS when
    /// the ISR is smaller than `min.insync.replicas`, and is acknowledged only once the high
    /// watermark has passed it. What remains to wait for comes back as a `PendingAck`: a
    /// produce request appends to all its partitions first and then waits for all of them
    /// together, so fsyncs and replication overlap instead of running one after another.
    /// `origin` (the producing client) goes to the segment's trace sidecar.
    func appendAsLeader(
        _ batch: RecordBatch, to topicPartition: TopicPartition, acks: Int16, minInsyncReplicas: Int32, origin: BatchOrigin? = nil
    ) -> (AppendOutcome, PendingAck?) {
        guard let partition = partition(topicPartition) else { return (notHosted(topicPartition), nil) }
        let written = append(batch, to: partition, acks: acks, minInsyncReplicas: minInsyncReplicas, origin: origin)
        guard case .appended(let result, _, let replicated) = written else { return (written, nil) }
        let pending = PendingAck(
            partition: partition, offset: result.nextOffset, needsSync: partition.log.config.syncsBeforeAcknowledge,
            needsReplication: acks == -1 && !replicated)
        guard acks != 0 else {
            // No one waits for an acks=0 append, but consumers see it only once it is durable
            // (the high watermark moves at the fsync), so its fsync must run all the same.
            if pending.needsSync {
                let durable = PendingAck(partition: partition, offset: pending.offset, needsSync: true, needsReplication: false)
                Task { _ = await self.waitUntilAcknowledged([durable], timeoutMs: 0) }
            }
            return (written, nil)
        }
        return (written, pending.needsSync || pending.needsReplication ? pending : nil)
    }

    /// Waits for every pending acknowledgement at once; returns the partitions that cannot be
    /// acknowledged, with the error each answers: KAFKA_STORAGE_ERROR when the fsync failed
    /// (the directory is offline), and for acks=all NOT_ENOUGH_REPLICAS_AFTER_APPEND,
    /// NOT_LEADER_OR_FOLLOWER or REQUEST_TIMED_OUT (after `timeoutMs`) from the replication
    /// state machine. Each fsync that succeeds has moved its log's high watermark: the fetches
    /// waiting on that partition are woken here, not at the append.
    func waitUntilAcknowledged(_ pending: [PendingAck], timeoutMs: Int64) async -> [TopicPartition: (KafkaErrorCode, String)] {
        guard !pending.isEmpty else { return [:] }
        return await withTaskGroup(of: (TopicPartition, KafkaErrorCode, String)?.self) { group in
            for ack in pending {
                group.addTask {
                    if ack.needsSync {
                        do {
                            try await ack.partition.log.waitUntilDurable(ack.offset)
                            self.waitingRoom.notifyAppend(to: ack.topicPartition)
                        } catch {
                            if let error = error as? StorageError {
                                self.logStorageFailure(error, "fsync of", ack.topicPartition)
                            } else {
                                self.logger.error("fsync of \(ack.topicPartition) failed: \(error)")
                            }
                            return (ack.topicPartition, .kafkaStorageError, "The append could not be made durable (fsync failed; the log directory is offline).")
                        }
                    }
                    if ack.needsReplication {
                        let code = await self.awaitHighWatermark(ack.partition, reaching: ack.offset, timeoutMs: timeoutMs)
                        if code != .none { return (ack.topicPartition, code, Self.replicationFailure(code)) }
                    }
                    return nil
                }
            }
            var failed: [TopicPartition: (KafkaErrorCode, String)] = [:]
            for await failure in group { if let failure { failed[failure.0] = (failure.1, failure.2) } }
            return failed
        }
    }

    private static func replicationFailure(_ code: KafkaErrorCode) -> String {
        switch code {
        case .notEnoughReplicasAfterAppend: "The in-sync replicas fell below min.insync.replicas after the append; it may not be replicated."
        case .requestTimedOut: "The in-sync replicas did not all have the append within the request's timeout."
        case .notLeaderOrFollower: "This server stopped leading the partition before the in-sync replicas had the append."
        default: "The append was not replicated (\(code))."
        }
    }

    /// The synchronous part of a leader append: checks, the write, the machine's view of the
    /// log end and the wake-up of waiting fetches. Callers that must order appends (the group
    /// coordinator's log) call it directly, then wait for the acknowledgement themselves.
    func appendNow(
        _ batch: RecordBatch, to topicPartition: TopicPartition, acks: Int16, minInsyncReplicas: Int32
    ) -> AppendOutcome {
        guard let partition = partition(topicPartition) else { return notHosted(topicPartition) }
        return append(batch, to: partition, acks: acks, minInsyncReplicas: minInsyncReplicas, origin: nil)
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

    private func append(
        _ batch: RecordBatch, to partition: Partition, acks: Int16, minInsyncReplicas: Int32, origin: BatchOrigin?
    ) -> AppendOutcome {
        let topicPartition = partition.topicPartition
        guard mayLead() else {
            return .failed(.notLeaderOrFollower, "This server's cluster membership lapsed; it may no longer lead that topic-partition.")
        }
        do {
            let outcome = try partition.appendAsLeader(
                requiredIsr: acks == -1 ? Int(minInsyncReplicas) : nil, nowMs: Self.monotonicMilliseconds()
            ) { epoch in try partition.log.append(batch, leaderEpoch: epoch, origin: origin) }
            switch outcome {
            case .notLeader:
                return .failed(.notLeaderOrFollower, "This server is not the leader for that topic-partition.")
            case .notEnoughReplicas(let isr):
                return .failed(.notEnoughReplicas, "The in-sync replicas (\(isr)) are fewer than min.insync.replicas (\(minInsyncReplicas)).")
            case .appended(let result, let step, let highWatermark):
                perform(step, for: partition)
                // Followers read up to the log end: their long polls answer now (unless the
                // high watermark moved, which has woken them already).
                let movedHighWatermark = step.actions.contains { if case .advanceHighWatermark = $0 { true } else { false } }
                if !result.isDuplicate, !movedHighWatermark { waitingRoom.notifyAppend(to: topicPartition) }
                return .appended(result, logStartOffset: partition.log.offsets.logStartOffset, replicated: highWatermark >= result.nextOffset)
            }
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
