import RunnelProtocol
import RunnelStorage

/// Fetch (1), versions 4-12, for consumers. Long polls: with less than `min.bytes` ready it
/// waits up to `max.wait.ms` in the fetch waiting room, and any append to one of its
/// partitions answers it at once. Record data goes out with sendfile (FetchResponseWriter).
/// Fetch sessions are answered sessionless (session id 0), so clients send full fetches.
struct FetchHandler: APIHandler {
    let versions: ClosedRange<Int16> = 4...12
    let context: HandlerContext

    func handle(_ request: FetchRequest, context requestContext: RequestContext) async -> HandlerReply<FetchResponse> {
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(max(0, request.maxWaitMs))
        let watched = Set(request.topics.flatMap { topic in topic.partitions.map { TopicPartition(topic: topic.topic, partition: $0.partition) } })
        while true {
            let seen = context.replicas.waitingRoom.appendCount
            let (topics, bytes, hasError) = read(request)
            if bytes >= Int(request.minBytes) || hasError || clock.now >= deadline || Task.isCancelled {
                return .parts(FetchResponseWriter.encode(version: requestContext.apiVersion, topics: topics))
            }
            await context.replicas.waitingRoom.wait(for: watched, timeout: clock.now.duration(to: deadline), seen: seen)
        }
    }

    /// One pass over the requested partitions within the response and partition byte limits.
    private func read(_ request: FetchRequest) -> ([FetchResponseWriter.TopicData], Int, Bool) {
        var remaining = request.maxBytes > 0 ? Int(request.maxBytes) : Int(Int32.max)
        var total = 0
        var hasError = false
        let topics = request.topics.map { topic in
            FetchResponseWriter.TopicData(name: topic.topic, partitions: topic.partitions.map { wanted in
                var data = FetchResponseWriter.PartitionData(partitionIndex: wanted.partition)
                guard let partition = context.replicas.partition(TopicPartition(topic: topic.topic, partition: wanted.partition)) else {
                    data.errorCode = .unknownTopicOrPartition
                    hasError = true
                    return data
                }
                guard partition.isLeader else {
                    data.errorCode = .notLeaderOrFollower
                    hasError = true
                    return data
                }
                let offsets = partition.log.offsets
                data.highWatermark = offsets.highWatermark
                data.lastStableOffset = offsets.highWatermark
                data.logStartOffset = offsets.logStartOffset
                // Past the response limit, partitions come back empty (the first batch of the
                // first partition is always whole, KIP-74, so consumers make progress).
                guard remaining > 0 || total == 0 else { return data }
                do {
                    let limit = max(1, min(Int(wanted.partitionMaxBytes), remaining))
                    data.records = try partition.log.read(
                        from: wanted.fetchOffset, maxBytes: limit, upTo: offsets.highWatermark, minimumOneBatch: total == 0)
                    let length = data.records?.length ?? 0
                    total += length
                    remaining -= length
                } catch let error as StorageError where error.code == .offsetOutOfRange {
                    data.errorCode = .offsetOutOfRange
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
