import Logging
import NIOCore
import RunnelProtocol
import RunnelReplication
import RunnelStorage
import RunnelWire
import Synchronization

/// Follows the partitions one leader leads: first asks the leader where this log's latest
/// epoch ended (OffsetForLeaderEpoch) and cuts what diverged, then long-polls it with Fetch v12
/// as replica `brokerId` and appends the leader's batches as they are (offsets and epochs
/// kept), taking the leader's high watermark and log start. A fetch answered with a diverging
/// epoch truncates again (Kafka ≥ 2.7's path); errors back the partition off
/// (`replica.fetch.backoff.ms`); a broken connection is made again.
///
/// Concurrency: `follow` (from `ReplicaFetcherManager.update`) and the fetch task share the
/// followed map behind a mutex; every write to a log happens under the partition's lock
/// (`Partition.whileFollowing`), so a change of role never meets a half-done append.
final class ReplicaFetcher: Sendable {
    let leaderId: Int32
    private let manager: ReplicaFetcherManager
    private var settings: ReplicaFetcherManager.Settings { manager.settings }
    private var logger: Logger { manager.logger }

    enum Phase: Sendable, Equatable {
        case truncating
        case fetching(offset: Int64, lastFetchedEpoch: Int32)
    }

    struct Followed: Sendable {
        let target: ReplicaFetcherManager.Target
        var phase: Phase = .truncating
        var delayedUntilMs: Int64 = 0
        var partition: Partition { target.partition }
    }

    private struct State {
        var followed: [TopicPartition: Followed] = [:]
        var address: BrokerAddress?
    }

    private let state = Mutex(State())
    private let task = Mutex<Task<Void, Never>?>(nil)

    init(leaderId: Int32, manager: ReplicaFetcherManager) {
        self.leaderId = leaderId
        self.manager = manager
    }

    /// Follows exactly `targets` from now on; a partition already followed at the same epoch
    /// keeps its place.
    func follow(_ targets: [TopicPartition: ReplicaFetcherManager.Target], address: BrokerAddress?) {
        state.withLock { state in
            var next: [TopicPartition: Followed] = [:]
            for (topicPartition, target) in targets {
                if let current = state.followed[topicPartition], current.partition === target.partition,
                   current.target.leaderEpoch == target.leaderEpoch {
                    next[topicPartition] = current
                } else {
                    next[topicPartition] = Followed(target: target)
                }
            }
            state.followed = next
            state.address = address
        }
    }

    func start() {
        let started = Task { [self] in await run() }
        task.withLock { $0 = started }
    }

    func cancel() { task.withLock { $0?.cancel() } }

    func stop() async {
        let running = task.withLock { $0 }
        running?.cancel()
        await running?.value
    }

    // MARK: The loop

    private func run() async {
        var connection: BrokerConnection?
        var lastProblem: String?
        defer { if let connection { Task { await connection.close() } } }
        while !Task.isCancelled {
            let (followed, address) = state.withLock { ($0.followed, $0.address) }
            let now = ReplicaManager.monotonicMilliseconds()
            let ready = followed.filter { $0.value.delayedUntilMs <= now }
            guard !ready.isEmpty, let address else {
                try? await Task.sleep(for: .milliseconds(50))
                continue
            }
            do {
                if connection == nil || connection?.isActive != true || connection?.address != address {
                    if let old = connection { await old.close() }
                    connection = nil
                    connection = try await BrokerConnection.connect(
                        to: address, clientId: "runnel-replica-\(manager.brokerId)", requestTimeout: .seconds(30),
                        connectTimeout: .seconds(2))
                }
                let truncating = ready.filter { $0.value.phase == .truncating }
                if !truncating.isEmpty { try await truncate(truncating, over: connection!) }
                let fetching = ready.filter { if case .fetching = $0.value.phase { true } else { false } }
                if fetching.isEmpty {
                    if truncating.isEmpty { try? await Task.sleep(for: .milliseconds(50)) }
                    continue
                }
                try await fetch(fetching, over: connection!)
                lastProblem = nil
            } catch {
                if Task.isCancelled { break }
                // The leader may be gone: the metadata will point this broker elsewhere.
                let problem = "\(error)"
                if problem != lastProblem {
                    logger.warning("replica fetcher for leader \(leaderId) at \(address): \(problem); retrying")
                    lastProblem = problem
                }
                if let old = connection { await old.close() }
                connection = nil
                try? await Task.sleep(for: .milliseconds(min(settings.backoffMs, 200)))
            }
        }
    }

    /// Changes the phase of a followed partition, unless it was replaced meanwhile (a new
    /// epoch, another log).
    private func update(_ topicPartition: TopicPartition, of followed: Followed, _ change: (inout Followed) -> Void) {
        state.withLock { state in
            guard var current = state.followed[topicPartition], current.partition === followed.partition,
                  current.target.leaderEpoch == followed.target.leaderEpoch
            else { return }
            change(&current)
            state.followed[topicPartition] = current
        }
    }

    /// Errors that mean "the leader has not applied the metadata this follower has" (or the
    /// reverse): they pass within milliseconds, so they are retried after a short pause, not
    /// the whole `replica.fetch.backoff.ms` — a new leader's followers must reach it quickly
    /// for its high watermark, hence acks=all, to move after a failover.
    static let propagationErrors: Set<Int16> = [
        KafkaErrorCode.fencedLeaderEpoch.rawValue, KafkaErrorCode.unknownLeaderEpoch.rawValue,
        KafkaErrorCode.notLeaderOrFollower.rawValue, KafkaErrorCode.unknownTopicOrPartition.rawValue,
    ]
    static let propagationRetryMs: Int64 = 50

    private func backOff(_ topicPartition: TopicPartition, _ followed: Followed, truncateAgain: Bool = false, error: Int16? = nil) {
        let pause = error.map { Self.propagationErrors.contains($0) } == true ? min(Self.propagationRetryMs, settings.backoffMs) : settings.backoffMs
        let until = ReplicaManager.monotonicMilliseconds() + pause
        update(topicPartition, of: followed) {
            $0.delayedUntilMs = until
            if truncateAgain { $0.phase = .truncating }
        }
    }

    // MARK: Truncation (KIP-101, KIP-279)

    private func truncate(_ partitions: [TopicPartition: Followed], over connection: BrokerConnection) async throws {
        var asked: [TopicPartition: Followed] = [:]
        for (topicPartition, followed) in partitions {
            let log = followed.partition.log
            if log.latestLeaderEpoch == nil {
                // No epochs to ask about: keep only what was committed.
                let cut = followed.partition.whileFollowing(leaderId, epoch: followed.target.leaderEpoch) {
                    Result { () throws(StorageError) in
                        try log.truncate(to: log.offsets.highWatermark)
                        return true
                    }
                }
                finishTruncation(topicPartition, followed, cut)
            } else {
                asked[topicPartition] = followed
            }
        }
        guard !asked.isEmpty else { return }
        var request = OffsetForLeaderEpochRequest(replicaId: manager.brokerId)
        for (topic, entries) in Dictionary(grouping: asked, by: { $0.key.topic }) {
            request.topics.append(.init(topic: topic, partitions: entries.map { topicPartition, followed in
                .init(
                    partition: topicPartition.partition, currentLeaderEpoch: followed.target.leaderEpoch,
                    leaderEpoch: followed.partition.log.latestLeaderEpoch ?? -1)
            }))
        }
        let response = try await connection.send(request)
        for topic in response.topics {
            for answer in topic.partitions {
                let topicPartition = TopicPartition(topic: topic.topic, partition: answer.partition)
                guard let followed = asked[topicPartition] else { continue }
                guard answer.errorCode == 0 else {
                    // FENCED/UNKNOWN_LEADER_EPOCH: the leader's metadata and ours differ for now.
                    backOff(topicPartition, followed, error: answer.errorCode)
                    continue
                }
                finishTruncation(topicPartition, followed, cut(followed, leaderEpoch: answer.leaderEpoch, endOffset: answer.endOffset))
            }
        }
    }

    /// Cuts the log where the leader's answer about an epoch (OffsetForLeaderEpoch, or a
    /// fetch's diverging epoch) says it diverged; `false` when another round must follow. Nil
    /// when this broker no longer follows that leader at that epoch.
    private func cut(_ followed: Followed, leaderEpoch: Int32, endOffset: Int64) -> Result<Bool, StorageError>? {
        let log = followed.partition.log
        return followed.partition.whileFollowing(leaderId, epoch: followed.target.leaderEpoch) {
            Result { () throws(StorageError) in
                let offsets = log.offsets
                let decision = FollowerTruncation.decide(
                    leaderEpoch: leaderEpoch, leaderEndOffset: endOffset, logEndOffset: offsets.logEndOffset,
                    highWatermark: offsets.highWatermark, localEndOffset: { log.endOffset(forLeaderEpoch: $0) })
                try log.truncate(to: decision.offset)
                return decision.isComplete
            }
        }
    }

    /// After a truncation step: fetch from the log end, ask again, or back off on a failure.
    private func finishTruncation(_ topicPartition: TopicPartition, _ followed: Followed, _ outcome: Result<Bool, StorageError>?) {
        switch outcome {
        case nil:
            return  // no longer following that leader at that epoch
        case .failure(let error):
            manager.logFailure("truncate", topicPartition, "truncating as a follower failed: \(error)")
            backOff(topicPartition, followed, truncateAgain: true)
        case .success(let complete):
            guard complete else {
                // Another round: ask the leader about the (now earlier) latest epoch.
                update(topicPartition, of: followed) { $0.phase = .truncating }
                return
            }
            let log = followed.partition.log
            let end = log.offsets.logEndOffset
            let epoch = log.latestLeaderEpoch ?? -1
            update(topicPartition, of: followed) { $0.phase = .fetching(offset: end, lastFetchedEpoch: epoch) }
        }
    }

    // MARK: Fetching

    private func fetch(_ partitions: [TopicPartition: Followed], over connection: BrokerConnection) async throws {
        var request = FetchRequest(
            replicaId: manager.brokerId, maxWaitMs: settings.waitMaxMs, minBytes: 1, maxBytes: settings.responseMaxBytes)
        // A random order each time, so that a partition whose next batch is too large for a
        // share of the response is first (and whole, KIP-74) often enough (Kafka rotates).
        for (topic, entries) in Dictionary(grouping: partitions, by: { $0.key.topic }).shuffled() {
            request.topics.append(.init(topic: topic, partitions: entries.shuffled().compactMap { topicPartition, followed in
                guard case .fetching(let offset, let lastEpoch) = followed.phase else { return nil }
                return .init(
                    partition: topicPartition.partition, currentLeaderEpoch: followed.target.leaderEpoch, fetchOffset: offset,
                    lastFetchedEpoch: lastEpoch, logStartOffset: followed.partition.log.offsets.logStartOffset,
                    partitionMaxBytes: settings.partitionMaxBytes)
            }))
        }
        let version = min(12, try connection.versions.version(of: FetchRequest.self))
        let response = try await connection.send(
            request, version: version, timeout: .milliseconds(Int64(settings.waitMaxMs) + 30_000))
        for topic in response.responses {
            for data in topic.partitions {
                let topicPartition = TopicPartition(topic: topic.topic, partition: data.partitionIndex)
                guard let followed = partitions[topicPartition], case .fetching(let offset, _) = followed.phase else { continue }
                await process(data, for: topicPartition, followed, fetchedFrom: offset, version: version)
            }
        }
    }

    private func process(
        _ data: FetchResponse.PartitionData, for topicPartition: TopicPartition, _ followed: Followed, fetchedFrom offset: Int64,
        version: Int16
    ) async {
        let partition = followed.partition
        let log = partition.log
        if data.errorCode == KafkaErrorCode.offsetOutOfRange.rawValue, data.logStartOffset > offset {
            // The leader's log starts past this one's end (retention, DeleteRecords, a
            // __consumer_offsets rewritten from Runnel's older format): nothing before its start can be had; start there
            // (Kafka's handleOffsetOutOfRange → truncateFullyAndStartAt).
            let restarted = partition.whileFollowing(leaderId, epoch: followed.target.leaderEpoch) {
                Result { () throws(StorageError) in try log.truncateFully(startingAt: data.logStartOffset) }
            }
            switch restarted {
            case .success?:
                logger.info("\(topicPartition): the leader's log starts at \(data.logStartOffset), past this log's end \(offset); restarted there")
                update(topicPartition, of: followed) { $0.phase = .fetching(offset: data.logStartOffset, lastFetchedEpoch: -1) }
            case .failure(let error)?:
                logger.error("\(topicPartition): restarting the log at the leader's start failed: \(error)")
                backOff(topicPartition, followed)
            case nil:
                break
            }
            return
        }
        guard data.errorCode == 0 else {
            // OFFSET_OUT_OF_RANGE otherwise: the leader's log ends before this one (an unclean
            // election): ask again where to cut. Epoch and leadership errors: wait for the
            // metadata to agree.
            backOff(topicPartition, followed, truncateAgain: data.errorCode == KafkaErrorCode.offsetOutOfRange.rawValue, error: data.errorCode)
            return
        }
        if version >= 12, data.divergingEpoch.epoch >= 0 {
            finishTruncation(
                topicPartition, followed, cut(followed, leaderEpoch: data.divergingEpoch.epoch, endOffset: data.divergingEpoch.endOffset))
            return
        }
        // Every batch is checked (CRC over every byte) before the partition lock is taken, so
        // a metadata change for the partition never waits for it.
        let fetched = Result { try Self.batches(in: data.records) }
        let appended: Result<Int32?, any Error>? = partition.whileFollowing(leaderId, epoch: followed.target.leaderEpoch) {
            Result {
                guard log.offsets.logEndOffset == offset else {
                    throw StorageError(.offsetOutOfRange, "the log end moved from \(offset) while fetching")
                }
                var lastEpoch: Int32?
                for batch in try fetched.get() {
                    let offsets = log.offsets
                    // A batch wholly below the log end was had already (a fetch from inside it).
                    if batch.header.lastOffset < offsets.logEndOffset { continue }
                    if batch.header.baseOffset < offsets.logEndOffset, offsets.logEndOffset == offsets.logStartOffset {
                        // An empty log started inside the leader's batch (its log start is not on a
                        // batch boundary, after DeleteRecords): start at the batch instead; the
                        // leader's log start is taken again below (Kafka's Partition does the same).
                        try log.truncateFully(startingAt: batch.header.baseOffset)
                    }
                    _ = try log.appendAsFollower(batch)
                    lastEpoch = batch.header.partitionLeaderEpoch
                }
                log.setFollowerHighWatermark(data.highWatermark)
                // Retention and DeleteRecords follow the leader.
                if data.logStartOffset > log.offsets.logStartOffset, data.logStartOffset <= log.offsets.highWatermark {
                    try log.deleteRecords(before: data.logStartOffset)
                }
                return lastEpoch
            }
        }
        switch appended {
        case nil:
            return
        case .failure(let error):
            // A batch that fails its checks (CRC, size, magic) is refused whole: nothing of this
            // fetch is stored, and the partition is fetched again after a backoff.
            manager.logFailure(
                "append", topicPartition,
                "the batches leader \(leaderId) sent from offset \(offset) were refused, nothing stored: \(error)")
            backOff(topicPartition, followed, truncateAgain: true)
        case .success(let lastEpoch):
            let end = log.offsets.logEndOffset
            // The next fetch offset tells the leader "I have everything below it", which moves
            // its high watermark: under fsync-before-acknowledge it must be durable here first.
            if log.config.syncsBeforeAcknowledge, end > offset {
                do {
                    try await log.waitUntilDurable(end)
                } catch {
                    manager.logFailure("fsync", topicPartition, "fsync as a follower failed: \(error)")
                    backOff(topicPartition, followed)
                    return
                }
            }
            update(topicPartition, of: followed) { followed in
                guard case .fetching(_, let previous) = followed.phase else { return }
                followed.phase = .fetching(offset: end, lastFetchedEpoch: lastEpoch ?? previous)
            }
        }
    }

    /// The whole batches of a fetched record set, each checked (size, magic, CRC) as Kafka's
    /// follower checks them; a partial batch at the end (cut by the size limit) is left for
    /// the next fetch.
    static func batches(in records: ByteBuffer?) throws -> [RecordBatch] {
        guard var buffer = records else { return [] }
        var batches: [RecordBatch] = []
        while buffer.readableBytes >= RecordBatchHeader.logOverhead {
            guard let length = buffer.getInteger(at: buffer.readerIndex + 8, as: Int32.self), length >= 0 else { break }
            let total = RecordBatchHeader.logOverhead + Int(length)
            guard buffer.readableBytes >= total, let slice = buffer.readSlice(length: total) else { break }
            batches.append(try RecordBatch(validating: slice))
        }
        return batches
    }
}
