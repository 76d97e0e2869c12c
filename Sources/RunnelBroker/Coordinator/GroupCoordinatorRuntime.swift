import Logging
import Prometheus
import NIOCore
import RunnelCluster
import RunnelCoordinator
import RunnelProtocol
import RunnelStorage
import Synchronization

/// Hosts the pure `GroupCoordinator` in the broker: parks JoinGroup/SyncGroup requests until
/// the state machine releases them, ticks its clock, and writes its records to
/// `__consumer_offsets` through the same append path as any producer, answering a commit only
/// once its records are in the log. At start-up it replays that topic to rebuild the offsets.
final class GroupCoordinatorRuntime: Sendable {
    static let offsetsTopic = "__consumer_offsets"
    /// Kafka's settings for the topic: compacted, 100 MiB segments (`offsets.topic.segment.bytes`).
    static let offsetsTopicConfigs = ["cleanup.policy": "compact", "segment.bytes": "104857600"]

    private enum Parked {
        case join(CheckedContinuation<GroupCoordinator.JoinResult, Never>)
        case sync(CheckedContinuation<GroupCoordinator.SyncResult, Never>)
    }

    private let state: Mutex<GroupCoordinator>
    private let parked = Mutex<[Int: Parked]>([:])
    /// `__consumer_offsets` partitions whose groups are in `state` (led here and replayed).
    private let loaded = Mutex<Set<Int32>>([])
    private let nextRequestId = Atomic<Int>(1)
    private let ticker = Mutex<Task<Void, Never>?>(nil)
    private let replicas: ReplicaManager
    /// `offsets.topic.num.partitions`, or the partition count the topic was created with.
    /// `offsets.topic.num.partitions`, used until the topic exists; then its real count.
    private let configuredPartitionCount: Int32
    /// The applied metadata, for `__consumer_offsets`' partition count (another broker may
    /// have created it).
    private let view: MetadataView
    /// `offsets.topic.replication.factor`.
    let replicationFactor: Int16
    private let logger: Logger
    private let clock: @Sendable () -> Int64
    private let offsetsRetentionMs: Int64
    private let maintenanceIntervalMs: Int64
    /// Consumer groups' own session timeouts and heartbeat intervals.
    let configs: GroupConfigs
    private let log: CoordinatorLog
    /// Counts completed rebalances (`runnel_group_rebalances_total`); nil in tests.
    private let rebalances: Counter?

    init(config: BrokerConfig, replicas: ReplicaManager, view: MetadataView, store: any MetadataStore, logger: Logger,
         clock: @escaping @Sendable () -> Int64 = PartitionLog.wallClockMilliseconds, rebalances: Counter? = nil) {
        self.rebalances = rebalances
        var coordinatorConfig = GroupCoordinator.Config()
        coordinatorConfig.initialRebalanceDelayMs = config.groupInitialRebalanceDelayMs
        state = Mutex(GroupCoordinator(config: coordinatorConfig))
        self.replicas = replicas
        configuredPartitionCount = config.offsetsTopicNumPartitions
        self.view = view
        replicationFactor = config.offsetsReplicationFactor
        self.logger = logger
        self.clock = clock
        offsetsRetentionMs = config.offsetsRetentionMinutes * 60_000
        maintenanceIntervalMs = config.offsetsRetentionCheckIntervalMs
        configs = GroupConfigs(schema: GroupConfigSchema(broker: config), store: store, view: view)
        log = CoordinatorLog(replicas: replicas, logger: logger)
    }

    /// Creates `__consumer_offsets` if needed and starts the clock. The partitions this broker
    /// leads are loaded by `reconcile`, which the metadata applier calls with every image.
    func start(topics: TopicLifecycle, metadata: MetadataView, createTopic: Bool) async throws {
        if metadata.topic(named: Self.offsetsTopic) == nil, createTopic {
            _ = try await topics.create(
                name: Self.offsetsTopic, partitions: configuredPartitionCount, replicationFactor: replicationFactor,
                configs: Self.offsetsTopicConfigs, isInternal: true)
        } else if let topic = metadata.topic(named: Self.offsetsTopic), topic.configs["cleanup.policy"] != "compact" {
            // Created before `__consumer_offsets` was compacted: it becomes so now.
            var configs = topic.configs
            configs.removeValue(forKey: "retention.ms")
            configs.merge(Self.offsetsTopicConfigs) { _, new in new }
            try await topics.setConfigs(topic: Self.offsetsTopic, to: configs, validateOnly: false)
            logger.info("\(Self.offsetsTopic) is now a compacted topic (cleanup.policy=compact)")
        }
        let task = Task { [weak self] in
            var lastExpiry = self?.clock() ?? 0
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(50))
                guard let self else { return }
                let now = self.clock()
                let sessionTimeouts = self.configs.sessionTimeouts()
                self.perform(self.state.withLock {
                    $0.expireConsumerMembers(now: now, sessionTimeoutMs: sessionTimeouts)
                    return $0.tick(now: now)
                })
                if now - lastExpiry >= self.maintenanceIntervalMs {
                    lastExpiry = now
                    await self.expireOffsets(now: now)
                }
            }
        }
        ticker.withLock { $0 = task }
    }

    // MARK: Shards

    /// Loads the groups of every `__consumer_offsets` partition this broker now leads (replaying
    /// its log) and unloads those of every partition it no longer leads, so the coordinator of
    /// a group is always the leader of its partition, with its state. Called by the metadata
    /// applier with each image, after the replica roles are applied and before handlers see
    /// the image.
    func reconcile(with image: MetadataImage) {
        guard let topic = image.topic(named: Self.offsetsTopic) else { return }
        let brokerId = replicas.brokerId
        var loadedNow = 0, records = 0
        for index in 0..<topic.partitionCount {
            let partition = TopicPartition(topic: Self.offsetsTopic, partition: index)
            let leads = image.partition(partition)?.leader == brokerId && replicas.partition(partition) != nil
            let isLoaded = loaded.withLock { $0.contains(index) }
            if leads, !isLoaded {
                do {
                    records += try load(index)
                    loadedNow += 1
                } catch {
                    logger.error("loading the groups of \(partition) failed; they answer COORDINATOR_LOAD_IN_PROGRESS: \(error)")
                }
            } else if !leads, isLoaded {
                unload(index)
            }
        }
        if loadedNow > 0 {
            logger.info("group coordinator loaded \(records) records from \(loadedNow) \(Self.offsetsTopic) partitions")
        }
    }

    /// Whether the groups of `partition` are in memory (it is led here and was replayed).
    func isLoaded(_ partition: Int32) -> Bool { loaded.withLock { $0.contains(partition) } }

    /// Replays one partition's log into the state; returns how many records it held.
    private func load(_ index: Int32) throws -> Int {
        guard let log = replicas.partition(TopicPartition(topic: Self.offsetsTopic, partition: index))?.log else { return 0 }
        var replayed = 0
        var legacy = 0
        let loadTime = clock()
        var offset = log.offsets.logStartOffset
        while let slice = try log.read(from: offset, maxBytes: 1 << 20) {
            for bytes in RecordSet(try slice.readBytes()) {
                let batch = try RecordBatch(validating: bytes)
                for record in try batch.records() where record.offset >= offset {
                    guard let key = record.key,
                          let decoded = CoordinatorRecord.decode(key: Array(key.readableBytesView), value: record.value.map { Array($0.readableBytesView) })
                    else { continue }
                    state.withLock { $0.replay(decoded.record, loadingAt: loadTime) }
                    replayed += 1
                    if decoded.isLegacy { legacy += 1 }
                }
            }
            offset = slice.nextOffset
        }
        loaded.withLock { _ = $0.insert(index) }
        if legacy > 0 {
            logger.info("\(Self.offsetsTopic)-\(index) holds \(legacy) records in Runnel's older format; rewriting its groups in Kafka's")
            Task { await migrateLegacyRecords(partition: index) }
        }
        return replayed
    }

    /// Forgets the groups of a partition led elsewhere now; their parked requests answer NOT_COORDINATOR.
    private func unload(_ index: Int32) {
        loaded.withLock { _ = $0.remove(index) }
        let count = partitionCount
        perform(state.withLock { $0.unload { Int32(Self.javaHashCode($0) & 0x7fff_ffff) % count == index } })
        logger.info("group coordinator unloaded the groups of \(Self.offsetsTopic)-\(index): no longer its leader")
    }

    /// Writes tombstones for offsets past `offsets.retention.minutes` in groups without members.
    private func expireOffsets(now: Int64) async {
        let expired = state.withLock { $0.expiredOffsetsRecords(now: now, retentionMs: offsetsRetentionMs) }
        for (groupId, records) in expired {
            let code = await write(records, groupId: groupId)
            if code == 0 { logger.info("expired \(records.count) committed offsets of group \(groupId)") }
        }
    }

    func stop() {
        ticker.withLock { $0?.cancel() }
    }

    /// The `__consumer_offsets` partition that holds a group, as Kafka computes it.
    /// `__consumer_offsets`' partition count: the topic's, once it exists.
    var partitionCount: Int32 { view.topic(named: Self.offsetsTopic)?.partitionCount ?? configuredPartitionCount }

    func partition(for groupId: String) -> Int32 {
        Int32(Self.javaHashCode(groupId) & 0x7fff_ffff) % partitionCount
    }

    /// Java's String.hashCode over UTF-16 code units, so groups land where Kafka puts them.
    static func javaHashCode(_ string: String) -> Int32 {
        string.utf16.reduce(Int32(0)) { $0 &* 31 &+ Int32($1) }
    }

    // MARK: Membership

    func join(_ request: GroupCoordinator.JoinRequest) async -> GroupCoordinator.JoinResult {
        let id = nextRequestId.wrappingAdd(1, ordering: .relaxed).oldValue
        return await withCheckedContinuation { continuation in
            parked.withLock { $0[id] = .join(continuation) }
            let now = clock()
            perform(state.withLock { $0.join(request, id: id, now: now) })
        }
    }

    func sync(groupId: String, memberId: String, generationId: Int32, assignments: [String: [UInt8]]) async -> GroupCoordinator.SyncResult {
        let id = nextRequestId.wrappingAdd(1, ordering: .relaxed).oldValue
        return await withCheckedContinuation { continuation in
            parked.withLock { $0[id] = .sync(continuation) }
            let now = clock()
            perform(state.withLock {
                $0.sync(groupId: groupId, memberId: memberId, generationId: generationId, assignments: assignments, id: id, now: now)
            })
        }
    }

    /// A KIP-848 consumer-protocol heartbeat.
    func consumerHeartbeat(_ request: GroupCoordinator.ConsumerHeartbeat, partitionCounts: [String: Int32])
        -> GroupCoordinator.ConsumerHeartbeatResult
    {
        let now = clock()
        let (result, before, after) = state.withLock { state in
            let before = state.consumerGroups[request.groupId]?.groupEpoch
            let result = state.consumerHeartbeat(request, partitionCounts: partitionCounts, now: now)
            return (result, before, state.consumerGroups[request.groupId])
        }
        // A new group epoch is a rebalance of a KIP-848 group: a new target assignment.
        if let after, after.groupEpoch > (before ?? 0) {
            rebalances?.increment()
            logger.info("group \(request.groupId) rebalanced: epoch \(after.groupEpoch), \(after.members.count) members, protocol consumer")
        }
        return result
    }

    func describeConsumer(_ groupId: String) -> ConsumerGroup? { state.withLock { $0.consumerGroups[groupId] } }

    func heartbeat(groupId: String, memberId: String, generationId: Int32) -> Int16 {
        let now = clock()
        return state.withLock { $0.heartbeat(groupId: groupId, memberId: memberId, generationId: generationId, now: now) }
    }

    func leave(groupId: String, members: [(memberId: String, groupInstanceId: String?)]) -> [Int16] {
        let now = clock()
        let (errors, actions) = state.withLock { $0.leave(groupId: groupId, members: members, now: now) }
        perform(actions)
        return errors
    }

    private func perform(_ actions: [GroupCoordinator.Action]) {
        for action in actions {
            switch action {
            case .completeJoin(let id, let result):
                if case .join(let continuation)? = parked.withLock({ $0.removeValue(forKey: id) }) { continuation.resume(returning: result) }
            case .completeSync(let id, let result):
                if case .sync(let continuation)? = parked.withLock({ $0.removeValue(forKey: id) }) { continuation.resume(returning: result) }
            case .persistGroup(let groupId):
                logSettled(groupId)
                // Stored after the answers go out; a crash before it costs the members a rejoin.
                Task { [self] in
                    guard let record = state.withLock({ $0.groupMetadataRecord(groupId) }) else { return }
                    _ = await write([record], groupId: groupId)
                }
            }
        }
    }

    /// A classic group that settled: stable after a rebalance (counted), or empty.
    private func logSettled(_ groupId: String) {
        guard let group = state.withLock({ $0.describe(groupId) }) else { return }
        switch group.state {
        case .stable:
            rebalances?.increment()
            logger.info(
                "group \(groupId) rebalanced: generation \(group.generationId), \(group.members.count) members, protocol \(group.protocolType ?? "")/\(group.protocolName ?? "")")
        case .empty:
            logger.info("group \(groupId) is empty (generation \(group.generationId))")
        default:
            break
        }
    }

    // MARK: Offsets and groups

    /// Validates and commits; returns the error code for every partition of the request.
    func commit(groupId: String, memberId: String, generationId: Int32, offsets: [GroupTopicPartition: OffsetAndMetadata]) async -> Int16 {
        let code = state.withLock { $0.validateCommit(groupId: groupId, memberId: memberId, generationId: generationId) }
        guard code == 0 else { return code }
        let records = state.withLock { $0.commitRecords(groupId: groupId, offsets: offsets) }
        return await write(records, groupId: groupId)
    }

    func committedOffsets(groupId: String, partitions: [GroupTopicPartition]?) -> [GroupTopicPartition: OffsetAndMetadata] {
        state.withLock { $0.committedOffsets(groupId: groupId, partitions: partitions) }
    }

    func deleteGroup(_ groupId: String) async -> Int16 {
        let (code, records) = state.withLock { $0.deleteGroup(groupId) }
        guard code == 0 else { return code }
        return await write(records, groupId: groupId)
    }

    func deleteOffsets(groupId: String, partitions: [GroupTopicPartition]) async -> Int16 {
        if let group = state.withLock({ $0.groups[groupId] }), !group.members.isEmpty {
            return KafkaErrorCode(rawValue: 86).rawValue  // GROUP_SUBSCRIBED_TO_TOPIC
        }
        let records = state.withLock { $0.deleteOffsetsRecords(groupId: groupId, partitions: partitions) }
        return await write(records, groupId: groupId)
    }

    var listing: [(groupId: String, protocolType: String, state: ClassicGroup.State)] { state.withLock { $0.listing } }

    /// Every group coordinated here with a committed offset on `partition` (`runnel trace`).
    func commits(on partition: GroupTopicPartition) -> [(groupId: String, offset: OffsetAndMetadata)] {
        state.withLock { state in
            state.offsets.compactMap { groupId, offsets in offsets[partition].map { (groupId, $0) } }.sorted { $0.groupId < $1.groupId }
        }
    }

    func describe(_ groupId: String) -> ClassicGroup? { state.withLock { $0.describe(groupId) } }

    /// Appends records to the group's `__consumer_offsets` partition, then applies them.
    private func write(_ records: [CoordinatorRecord], groupId: String) async -> Int16 {
        await log.write(records, to: partition(for: groupId), now: clock()) { [self] records in
            state.withLock { coordinator in records.forEach { coordinator.replay($0) } }
        }
    }

    /// Rewrites a partition that held records in Runnel's legacy format: its live state is
    /// appended in Kafka's format and the log start moves past everything before it, so the
    /// legacy records (whose keys the cleaner cannot match with the new ones) go with the old
    /// segments. Runs once per partition after a load found legacy records.
    private func migrateLegacyRecords(partition: Int32) async {
        let live: @Sendable () -> [CoordinatorRecord] = { [self] in
            state.withLock { coordinator in
                let offsets = coordinator.offsets.keys.filter { self.partition(for: $0) == partition }.sorted().flatMap { groupId in
                    coordinator.commitRecords(groupId: groupId, offsets: coordinator.offsets[groupId] ?? [:])
                }
                let groups = coordinator.groups.keys.filter { self.partition(for: $0) == partition }.sorted()
                    .compactMap { coordinator.groupMetadataRecord($0) }
                return offsets + groups
            }
        }
        // Until it succeeds, while this broker still holds the partition's groups (a failed
        // rewrite leaves older records whose keys the cleaner cannot retire).
        while isLoaded(partition) {
            if await log.rewrite(partition: partition, now: clock(), isLoaded: { [self] in isLoaded(partition) }, live: live) { return }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
