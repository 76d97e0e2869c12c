import RunnelProtocol
import RunnelStorage

/// Fetch (1), versions 4-12, for consumers and for followers (`replica_id` ≥ 0). Long polls: with less than `min.bytes` ready it
/// waits up to `max.wait.ms` in the fetch waiting room, and any append to one of its
/// partitions answers it at once; a cancelled fetch (its connection closed) stops waiting.
/// Record data goes out with sendfile (FetchResponseWriter). Fetch sessions are answered
/// sessionless (session id 0), so clients send full fetches.
///
/// Consumers read below the high watermark, from the leader only; a `current_leader_epoch`
/// older than the leader's is FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH (KIP-320).
/// A follower reads up to the log end, after the same epoch check and, from v12, a check that
/// its last fetched epoch ends where it thinks (else the answer is the diverging epoch and no
/// records, KIP-595/Kafka ≥ 2.7); each of its fetches tells the leader's replication state
/// machine where its log ends (Partition.scala's fetchRecords and updateFollowerFetchState).
///
/// Sizes, as Kafka's ReplicaManager bounds them: the response carries at most the smaller of
/// the request's `max_bytes` and the broker's `fetch.max.bytes` of records, each partition at
/// most its `partition_max_bytes`, except that the first batch of the first partition with
/// data is always whole (KIP-74) so that a consumer makes progress past a large batch. Nothing,
/// that first batch included, may take the response past what a frame's int32 size can carry.
struct FetchHandler: APIHandler {
    let versions: ClosedRange<Int16> = 4...12
    let context: HandlerContext

    func handle(_ request: FetchRequest, context requestContext: RequestContext) async -> HandlerReply<FetchResponse> {
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(max(0, request.maxWaitMs))
        let watched = Set(request.topics.flatMap { topic in topic.partitions.map { TopicPartition(topic: topic.topic, partition: $0.partition) } })
        let limits = Limits(request: request, fetchMaxBytes: context.config.fetchMaxBytes)
        while true {
            let seen = context.replicas.waitingRoom.appendCount
            let (topics, bytes, hasError) = await read(request, limits: limits)
            if bytes >= Int(request.minBytes) || hasError || clock.now >= deadline || Task.isCancelled {
                count(topics, byFollower: request.replicaId >= 0, metrics: requestContext.metrics)
                return .parts(FetchResponseWriter.encode(version: requestContext.apiVersion, topics: topics))
            }
            await context.replicas.waitingRoom.wait(for: watched, timeout: clock.now.duration(to: deadline), seen: seen)
        }
    }

    /// Counts what the response carries: record bytes per topic, error codes per partition
    /// (the response is framed here, not by `AnyAPIHandler`, which counts the others').
    private func count(_ topics: [FetchResponseWriter.TopicData], byFollower: Bool, metrics: RequestMetrics.API?) {
        var codes: [Int16: Int] = [:]
        for topic in topics {
            var bytes = 0
            for partition in topic.partitions {
                codes[partition.errorCode.rawValue, default: 0] += 1
                bytes += partition.records?.length ?? 0
            }
            context.metrics.traffic.fetched(from: topic.name, bytes: bytes, byFollower: byFollower)
        }
        metrics?.countErrors(codes)
    }

    /// The byte limits of one fetch's response.
    struct Limits {
        /// Record bytes the response aims for: the request's `max_bytes` capped by the broker's
        /// `fetch.max.bytes` (a negative request value counts as 0: one batch, as in Kafka).
        let responseBytes: Int
        /// Record bytes the frame can carry, the KIP-74 first batch included: the largest
        /// frame less a bound on everything else in the response.
        let frameRecordBytes: Int

        init(request: FetchRequest, fetchMaxBytes: Int) {
            responseBytes = max(0, min(Int(request.maxBytes), fetchMaxBytes))
            let overhead = FetchResponseWriter.nonRecordBytesBound(
                topics: request.topics.map { (name: $0.topic, partitionCount: $0.partitions.count) })
            frameRecordBytes = max(0, Int(Int32.max) - overhead)
        }
    }

    /// One pass over the requested partitions within the response and partition byte limits.
    private func read(_ request: FetchRequest, limits: Limits) async -> ([FetchResponseWriter.TopicData], Int, Bool) {
        let isFollower = request.replicaId >= 0
        var remaining = limits.responseBytes
        var total = 0
        var hasError = false
        let topics = await request.topics.mapInOrder { topic in
            FetchResponseWriter.TopicData(name: topic.topic, partitions: await topic.partitions.mapInOrder { wanted in
                var data = FetchResponseWriter.PartitionData(partitionIndex: wanted.partition)
                guard let partition = context.replicas.partition(TopicPartition(topic: topic.topic, partition: wanted.partition)) else {
                    data.errorCode = context.replicas.notHostedError(TopicPartition(topic: topic.topic, partition: wanted.partition))
                    hasError = true
                    return data
                }
                guard partition.isLeader else {
                    data.errorCode = .notLeaderOrFollower
                    hasError = true
                    return data
                }
                let leaderEpoch = partition.leaderEpoch
                if let error = Self.epochError(requested: wanted.currentLeaderEpoch, local: leaderEpoch) {
                    data.errorCode = error
                    hasError = true
                    return data
                }
                let offsets = partition.log.offsets
                data.highWatermark = offsets.highWatermark
                data.lastStableOffset = offsets.highWatermark
                data.logStartOffset = offsets.logStartOffset
                if isFollower {
                    if let refused = partition.followerFetchError(replica: request.replicaId) {
                        data.errorCode = KafkaErrorCode(rawValue: refused)
                        hasError = true
                        return data
                    }
                    if let diverging = Self.divergence(of: wanted, in: partition.log, logStartOffset: offsets.logStartOffset) {
                        switch diverging {
                        case .outOfRange: data.errorCode = .offsetOutOfRange
                        case .at(let epoch, let endOffset): data.divergingEpoch = (epoch, endOffset)
                        }
                        hasError = true
                        return data
                    }
                }
                // A follower reads to the log end; what it fetches from is where its log ends.
                let readLimit = isFollower ? offsets.logEndOffset : offsets.highWatermark
                defer {
                    if isFollower, data.errorCode == .none {
                        context.replicas.followerFetched(
                            partition, replica: request.replicaId, fetchOffset: wanted.fetchOffset, logStartOffset: wanted.logStartOffset,
                            leaderLogEndOffset: offsets.logEndOffset, leaderEpoch: leaderEpoch)
                    }
                }
                // Past the response limit, partitions come back empty (the first batch of the
                // first partition is always whole, KIP-74, so consumers make progress).
                guard remaining > 0 || total == 0 else { return data }
                do {
                    let limit = max(0, min(Int(wanted.partitionMaxBytes), remaining))
                    // Cached data is read on this event loop; what must wait for the disk, on the read pool.
                    let records = try await partition.log.read(
                        from: wanted.fetchOffset, maxBytes: limit, upTo: readLimit, minimumOneBatch: total == 0,
                        offloadingTo: context.logReads)
                    let length = records?.length ?? 0
                    guard total + length <= limits.frameRecordBytes else {
                        // Only a batch too large for any frame gets here (its size comes from
                        // disk): skip it loudly rather than send a frame the size cannot describe.
                        context.logger.error(
                            "fetch from \(partition.topicPartition) at offset \(wanted.fetchOffset): \(length) bytes of records do not fit in a response frame; sent none")
                        return data
                    }
                    data.records = records
                    total += length
                    remaining -= length
                } catch let error as StorageError where error.code == .offsetOutOfRange {
                    data.errorCode = .offsetOutOfRange
                    hasError = true
                } catch let error as StorageError where error.isStorageFailure {
                    context.replicas.logStorageFailure(error, "fetch from", partition.topicPartition)
                    data.errorCode = error.kafkaErrorCode
                    hasError = true
                } catch {
                    context.logger.error("fetch from \(partition.topicPartition) failed: \(error)")
                    data.errorCode = .unknownServerError
                    hasError = true
                }
                return data
            })
        }
        return (topics, total, hasError)
    }
}

extension FetchHandler {
    /// Partition.checkCurrentLeaderEpoch: -1 skips the check.
    static func epochError(requested: Int32, local: Int32) -> KafkaErrorCode? {
        guard requested >= 0, requested != local else { return nil }
        return requested < local ? .fencedLeaderEpoch : .unknownLeaderEpoch
    }

    enum Divergence: Equatable {
        case outOfRange
        case at(epoch: Int32, endOffset: Int64)
    }

    /// Whether a follower's log has diverged from this one: its last fetched epoch ends here
    /// before its fetch offset, or is not known here at all (Partition.scala's fetchRecords).
    static func divergence(of wanted: FetchRequest.FetchPartition, in log: PartitionLog, logStartOffset: Int64) -> Divergence? {
        guard wanted.lastFetchedEpoch >= 0 else { return nil }
        guard wanted.fetchOffset >= logStartOffset, let (epoch, endOffset) = log.endOffset(forLeaderEpoch: wanted.lastFetchedEpoch) else {
            return .outOfRange
        }
        if epoch < wanted.lastFetchedEpoch || endOffset < wanted.fetchOffset { return .at(epoch: epoch, endOffset: endOffset) }
        return nil
    }
}

extension Array {
    /// `map` with an async transform, run one element after another in order (the partitions
    /// of a fetch share a byte budget, so they are read in request order).
    fileprivate func mapInOrder<T>(_ transform: (Element) async -> T) async -> [T] {
        var results: [T] = []
        results.reserveCapacity(count)
        for element in self { results.append(await transform(element)) }
        return results
    }
}
