import RunnelProtocol
import RunnelStorage

/// ListOffsets (2), versions 1-7: earliest (-2), latest (-1, the high watermark), max timestamp
/// (-3, v7+), and the first offset at or after a timestamp (replay by time).
struct ListOffsetsHandler: APIHandler {
    let versions: ClosedRange<Int16> = 1...7
    let context: HandlerContext

    static let latest: Int64 = -1
    static let earliest: Int64 = -2
    static let maxTimestamp: Int64 = -3

    func handle(_ request: ListOffsetsRequest, context requestContext: RequestContext) async -> HandlerReply<ListOffsetsResponse> {
        let topics = request.topics.map { topic in
            ListOffsetsResponse.ListOffsetsTopicResponse(name: topic.name, partitions: topic.partitions.map { wanted in
                lookUp(wanted, topic: topic.name)
            })
        }
        return .response(ListOffsetsResponse(topics: topics))
    }

    private func lookUp(_ wanted: ListOffsetsRequest.ListOffsetsPartition, topic: String)
        -> ListOffsetsResponse.ListOffsetsPartitionResponse
    {
        var answer = ListOffsetsResponse.ListOffsetsPartitionResponse(
            partitionIndex: wanted.partitionIndex, timestamp: -1, offset: -1, leaderEpoch: -1)
        guard let partition = context.replicas.partition(TopicPartition(topic: topic, partition: wanted.partitionIndex)) else {
            answer.errorCode = context.replicas.notHostedError(TopicPartition(topic: topic, partition: wanted.partitionIndex)).rawValue
            return answer
        }
        guard partition.isLeader else {
            answer.errorCode = KafkaErrorCode.notLeaderOrFollower.rawValue
            return answer
        }
        // KIP-320 (v4+): a client that knows a newer leader epoch waits for this broker to catch
        // up; one that knows an older one refreshes its metadata (and may detect truncation).
        if let error = FetchHandler.epochError(requested: wanted.currentLeaderEpoch, local: partition.leaderEpoch) {
            answer.errorCode = error.rawValue
            return answer
        }
        let offsets = partition.log.offsets
        answer.leaderEpoch = partition.leaderEpoch
        // A new leader's high watermark can be behind the one its predecessor showed until it
        // reaches the start of its epoch: answering "latest" from it would make a client's
        // position go backwards. Kafka answers OFFSET_NOT_AVAILABLE (retriable) meanwhile.
        if wanted.timestamp != Self.earliest, let epochStart = partition.leaderEpochStartOffset, epochStart > offsets.highWatermark {
            answer.errorCode = KafkaErrorCode.offsetNotAvailable.rawValue
            return answer
        }
        switch wanted.timestamp {
        case Self.earliest:
            answer.offset = offsets.logStartOffset
        case Self.latest:
            answer.offset = offsets.highWatermark
        case Self.maxTimestamp:
            if let found = try? partition.log.maxTimestampAndOffset() {
                answer.timestamp = found.timestamp
                answer.offset = found.offset
            }
        case let timestamp where timestamp >= 0:
            do {
                if let found = try partition.log.offset(forTimestamp: timestamp), found.offset < offsets.highWatermark {
                    answer.timestamp = found.timestamp
                    answer.offset = found.offset
                }
            } catch {
                context.logger.error("offset lookup by time in \(partition.topicPartition) failed: \(error)")
                answer.errorCode = KafkaErrorCode.unknownServerError.rawValue
            }
        default:
            // -4 (earliest local), -5 (latest tiered) need versions we do not advertise.
            answer.errorCode = KafkaErrorCode.invalidRequest.rawValue
        }
        return answer
    }
}
