#if canImport(Glibc)
import Glibc
#endif
import RunnelProtocol
import RunnelStorage

/// DescribeLogDirs (35), versions 1-4: each data directory's partitions with their sizes, and
/// the directory's total and usable bytes.
struct DescribeLogDirsHandler: APIHandler {
    let versions: ClosedRange<Int16> = 1...4
    let context: HandlerContext

    func handle(_ request: DescribeLogDirsRequest, context requestContext: RequestContext) async -> HandlerReply<DescribeLogDirsResponse> {
        let wanted = request.topics.map { topics in Set(topics.flatMap { topic in topic.partitions.map { TopicPartition(topic: topic.topic, partition: $0) } }) }
        let results = context.logManager.directories.map { directory in
            let logs = context.logManager.allLogs.filter { $0.directory.hasPrefix(directory + "/") && (wanted?.contains($0.topicPartition) ?? true) }
            let byTopic = Dictionary(grouping: logs, by: \.topicPartition.topic)
            var space = statvfs()
            let known = statvfs(directory, &space) == 0
            return DescribeLogDirsResponse.DescribeLogDirsResult(
                logDir: directory,
                topics: byTopic.keys.sorted().map { topic in
                    .init(name: topic, partitions: byTopic[topic]!.sorted { $0.topicPartition.partition < $1.topicPartition.partition }.map { log in
                        .init(partitionIndex: log.topicPartition.partition, partitionSize: Int64(log.sizeInBytes), offsetLag: 0, isFutureKey: false)
                    })
                },
                totalBytes: known ? Int64(space.f_blocks) * Int64(space.f_frsize) : -1,
                usableBytes: known ? Int64(space.f_bavail) * Int64(space.f_frsize) : -1)
        }
        return .response(DescribeLogDirsResponse(results: results))
    }
}
