import Logging
import NIOCore
import RunnelProtocol

/// Reads records from a Kafka-compatible cluster, in a consumer group (`subscribe`) or from
/// partitions chosen by hand (`assign`), as the Java consumer does.
///
///     let consumer = Consumer(configuration: config)
///     try await consumer.subscribe(["events"])
///     while running {
///         for record in try await consumer.poll(timeout: .seconds(1)) { ... }
///     }
///     await consumer.close()
///
/// Positions are per partition: the next offset `poll` returns. They start at the group's
/// committed offset, else at `auto.offset.reset`, and move with `seek`. While `poll` hands back
/// records, the next fetch is already on its way (one per leader), so reading overlaps the
/// network.
public actor Consumer {
    public let configuration: ConsumerConfiguration
    let cluster: KafkaCluster
    private let logger: Logger
    private let member: ClassicGroupMember?
    private var subscription: [String]?
    private var needsRejoin = false
    private(set) public var assignment: [TopicPartition] = []
    private var positions: [TopicPartition: Int64] = [:]
    private var paused: Set<TopicPartition> = []
    private let fetcher: Fetcher
    private var heartbeatTask: Task<Void, Never>?
    private var nextAutoCommit = NIODeadline.now()
    private var closed = false

    public init(configuration: ConsumerConfiguration, logger: Logger = Logger(label: "runnel.consumer")) {
        self.configuration = configuration
        self.logger = logger
        let cluster = KafkaCluster(configuration: configuration.client)
        self.cluster = cluster
        member = configuration.groupId.map { ClassicGroupMember(groupId: $0, configuration: configuration, cluster: cluster, logger: logger) }
        fetcher = Fetcher(configuration: configuration, cluster: cluster, logger: logger)
    }

    // MARK: Subscription and assignment

    /// Joins the consumer group for `topics`; partitions are assigned by the group at the next `poll`.
    public func subscribe(_ topics: [String]) throws {
        guard member != nil else { throw KafkaClientError.invalidConfiguration("subscribe needs a group.id; use assign without one") }
        subscription = topics
        needsRejoin = true
        startHeartbeats()
    }

    /// Reads exactly these partitions, outside any group's assignment.
    public func assign(_ partitions: [TopicPartition]) {
        subscription = nil
        assignment = partitions
        positions = positions.filter { partitions.contains($0.key) }
        paused.formIntersection(partitions)
    }

    // MARK: Positions

    /// The next offset `poll` returns for `partition`, looked up if not yet known.
    public func position(_ partition: TopicPartition) async throws -> Int64 {
        try await resolvePositions([partition])
        return positions[partition] ?? -1
    }

    public func seek(_ partition: TopicPartition, to offset: Int64) {
        positions[partition] = offset
    }

    public func seekToBeginning(_ partitions: [TopicPartition]? = nil) async throws {
        try await reset(partitions ?? assignment, to: OffsetLookup.earliest)
    }

    public func seekToEnd(_ partitions: [TopicPartition]? = nil) async throws {
        try await reset(partitions ?? assignment, to: OffsetLookup.latest)
    }

    /// Moves each partition to its first record whose timestamp is at or after `timestamp`
    /// (milliseconds since the epoch); a partition with none moves to its end.
    public func seek(toTimestamp timestamp: Int64, partitions: [TopicPartition]? = nil) async throws {
        let targets = partitions ?? assignment
        let found = try await OffsetLookup.offsets(Dictionary(uniqueKeysWithValues: targets.map { ($0, timestamp) }), cluster: cluster)
        var atEnd: [TopicPartition] = []
        for partition in targets {
            if let offset = found[partition]?.offset, offset >= 0 { positions[partition] = offset } else { atEnd.append(partition) }
        }
        if !atEnd.isEmpty { try await reset(atEnd, to: OffsetLookup.latest) }
    }

    /// For each partition, the first offset whose record's timestamp is at or after the given
    /// one, or nil when there is none.
    public func offsetsForTimes(_ query: [TopicPartition: Int64]) async throws -> [TopicPartition: Int64?] {
        try await OffsetLookup.offsets(query, cluster: cluster).mapValues { $0.offset >= 0 ? $0.offset : nil }
    }

    public func pause(_ partitions: [TopicPartition]) { paused.formUnion(partitions) }
    public func resume(_ partitions: [TopicPartition]) { paused.subtract(partitions) }
    public var pausedPartitions: Set<TopicPartition> { paused }

    private func reset(_ partitions: [TopicPartition], to target: Int64) async throws {
        guard !partitions.isEmpty else { return }
        let found = try await OffsetLookup.offsets(Dictionary(uniqueKeysWithValues: partitions.map { ($0, target) }), cluster: cluster)
        for (partition, result) in found { positions[partition] = result.offset }
    }

    /// Gives a position to each partition without one: the committed offset, else the reset policy.
    private func resolvePositions(_ partitions: [TopicPartition]) async throws {
        var missing = partitions.filter { positions[$0] == nil }
        guard !missing.isEmpty else { return }
        if let member {
            for (partition, offset) in try await member.committed(missing) { positions[partition] = offset }
            missing = missing.filter { positions[$0] == nil }
        }
        try await resetByPolicy(missing)
    }

    private func resetByPolicy(_ partitions: [TopicPartition]) async throws {
        guard !partitions.isEmpty else { return }
        switch configuration.autoOffsetReset {
        case .earliest: try await reset(partitions, to: OffsetLookup.earliest)
        case .latest: try await reset(partitions, to: OffsetLookup.latest)
        case .none:
            throw KafkaClientError.invalidConfiguration(
                "no valid offset for \(partitions.map(\.description).joined(separator: ", ")) and auto.offset.reset is none")
        }
    }

    // MARK: Polling

    /// Records from the assigned, unpaused partitions, waiting up to `timeout` for some to arrive.
    public func poll(timeout: TimeAmount) async throws -> [ConsumerRecord] {
        if closed { throw KafkaClientError.closed }
        let deadline = NIODeadline.now() + timeout
        try await rejoinIfNeeded()
        try await resolvePositions(assignment)
        try await maybeAutoCommit()
        while true {
            let wait = max(.zero, min(deadline - .now(), configuration.fetchMaxWait))
            let fetchable = assignment.filter { !paused.contains($0) }
            let positionsNow = positions
            let result = try await fetcher.fetch(fetchable.compactMap { partition in positionsNow[partition].map { (partition, $0) } }, maxWait: wait)
            for (partition, next) in result.positions where positions[partition] != nil && fetchable.contains(partition) {
                positions[partition] = next
            }
            if !result.outOfRange.isEmpty {
                // The committed offset would be just as out of range: apply auto.offset.reset.
                try await resetByPolicy(result.outOfRange)
            }
            if !result.records.isEmpty || NIODeadline.now() >= deadline || needsRejoin { return result.records }
        }
    }

    private func rejoinIfNeeded() async throws {
        guard let member, let subscription else { return }
        let joined = await member.isJoined
        guard needsRejoin || !joined else { return }
        if configuration.enableAutoCommit { try? await commitPositions() }
        needsRejoin = false
        let partitions: [TopicPartition]
        do {
            partitions = try await member.join(topics: subscription)
        } catch {
            needsRejoin = true
            throw error
        }
        await fetcher.discardPrefetched()
        positions = positions.filter { partitions.contains($0.key) }
        paused.formIntersection(partitions)
        assignment = partitions
        nextAutoCommit = .now() + configuration.autoCommitInterval
    }

    private func startHeartbeats() {
        guard heartbeatTask == nil, let member else { return }
        let interval = configuration.heartbeatInterval
        heartbeatTask = Task { [weak self, logger] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(interval.nanoseconds))
                guard await member.isJoined else { continue }
                do {
                    if try await member.heartbeat() == .rejoin { await self?.markRejoin() }
                } catch {
                    logger.debug("heartbeat failed: \(error)")
                }
            }
        }
    }

    private func markRejoin() { needsRejoin = true }

    // MARK: Commits

    /// Commits the current positions of the assigned partitions.
    public func commit() async throws {
        try await commitPositions()
    }

    /// Commits `offsets`: for each partition the next offset to read.
    public func commit(_ offsets: [TopicPartition: Int64]) async throws {
        guard let member else { throw KafkaClientError.invalidConfiguration("committing needs a group.id") }
        try await member.commit(offsets)
    }

    /// The group's committed offsets for `partitions`.
    public func committed(_ partitions: [TopicPartition]) async throws -> [TopicPartition: Int64] {
        guard let member else { throw KafkaClientError.invalidConfiguration("committed offsets need a group.id") }
        return try await member.committed(partitions)
    }

    private func commitPositions() async throws {
        guard let member else { return }
        let offsets = positions.filter { assignment.contains($0.key) }
        guard !offsets.isEmpty else { return }
        try await member.commit(offsets)
    }

    private func maybeAutoCommit() async throws {
        guard configuration.enableAutoCommit, member != nil, NIODeadline.now() >= nextAutoCommit else { return }
        nextAutoCommit = .now() + configuration.autoCommitInterval
        do {
            try await commitPositions()
        } catch {
            logger.warning("auto-commit failed: \(error)")
        }
    }

    /// Commits (with auto-commit on), leaves the group and closes the connections.
    public func close() async {
        guard !closed else { return }
        closed = true
        heartbeatTask?.cancel()
        if let member {
            if configuration.enableAutoCommit, await member.isJoined { try? await commitPositions() }
            await member.leave()
        }
        await cluster.close()
    }
}
