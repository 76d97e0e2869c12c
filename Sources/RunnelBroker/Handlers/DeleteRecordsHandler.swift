import RunnelProtocol
import RunnelStorage

/// DeleteRecords (21), versions 0-2: moves each partition's log start offset up (-1 means the
/// high watermark); whole segments below it go at the next retention pass.
struct DeleteRecordsHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...2
    let context: HandlerContext

    func handle(_ request: DeleteRecordsRequest, context requestContext: RequestContext) async -> HandlerReply<DeleteRecordsResponse> {
        let topics = request.topics.map { topic in
            DeleteRecordsResponse.DeleteRecordsTopicResult(name: topic.name, partitions: topic.partitions.map { wanted in
                var result = DeleteRecordsResponse.DeleteRecordsPartitionResult(
                    partitionIndex: wanted.partitionIndex, lowWatermark: -1)
                guard let partition = context.replicas.partition(TopicPartition(topic: topic.name, partition: wanted.partitionIndex)) else {
                    result.errorCode = context.replicas.notHostedError(TopicPartition(topic: topic.name, partition: wanted.partitionIndex)).rawValue
                    return result
                }
                guard partition.isLeader else {
                    result.errorCode = KafkaErrorCode.notLeaderOrFollower.rawValue
                    return result
                }
                // -1 means "up to the high watermark"; any other negative offset is out of range.
                let target = wanted.offset == -1 ? partition.log.offsets.highWatermark : wanted.offset
                do {
                    guard target >= 0 else { throw StorageError(.offsetOutOfRange, "negative offset \(target)") }
                    result.lowWatermark = try partition.log.deleteRecords(before: target)
                    context.logAdminChange(
                        "deleted records of \(partition.topicPartition) before offset \(result.lowWatermark)", by: requestContext)
                } catch {
                    result.errorCode = KafkaErrorCode.offsetOutOfRange.rawValue
                }
                return result
            })
        }
        return .response(DeleteRecordsResponse(topics: topics))
    }
}
