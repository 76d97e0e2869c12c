import Foundation
import Logging
import RunnelCluster
import RunnelProtocol
import RunnelStorage
import Testing
@testable import RunnelBroker

/// `ReplicaManager.apply`, the one seam through which a broker's roles change: what an image
/// says this broker holds is hosted in the role it gives; what it no longer holds is deleted.
@Suite struct ReplicaManagerApplyTests {
    let me: Int32 = 2

    func image(_ topics: [(TopicMetadata, [PartitionState])], revision: Int64) -> MetadataImage {
        var image = MetadataImage(clusterId: "c", revision: revision)
        for (topic, states) in topics {
            image.topicsByName[topic.name] = topic
            for (index, state) in states.enumerated() {
                image.partitions[TopicPartition(topic: topic.name, partition: Int32(index))] = VersionedPartitionState(state: state, version: revision)
            }
        }
        return image
    }

    func withManager(_ body: (ReplicaManager, LogManager) throws -> Void) throws {
        let path = NSTemporaryDirectory() + "runnel-apply-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let logs = try LogManager(directories: [path])
        _ = try logs.startup { _ in LogConfig() }
        let view = MetadataView(MetadataImage(clusterId: "c", revision: 0))
        let replicas = ReplicaManager(brokerId: me, logManager: logs, view: view, logger: Logger(label: "test"))
        try body(replicas, logs)
        // Stops the follower fetchers the images started (their leaders do not exist).
        replicas.fetchers.update([:], brokers: [:])
        try logs.shutdown()
    }

    @Test func partitionsAreHostedInTheRoleTheImageGivesAndOthersAreNot() throws {
        try withManager { replicas, logs in
            let topic = TopicMetadata(name: "t", id: .random(), partitionCount: 3, replicationFactor: 2)
            let failures = replicas.apply(image([(topic, [
                PartitionState(replicas: [2, 1], leader: 2, leaderEpoch: 3, isr: [2]),
                PartitionState(replicas: [1, 2], leader: 1, leaderEpoch: 5, isr: [1]),
                PartitionState(replicas: [1, 3], leader: 1, isr: [1]),
            ])], revision: 1)) { _ in LogConfig() }
            #expect(failures.isEmpty)
            #expect(replicas.partition(TopicPartition(topic: "t", partition: 0))?.role == .leader(epoch: 3))
            #expect(replicas.partition(TopicPartition(topic: "t", partition: 0))?.inSyncReplicas == [2])
            #expect(replicas.partition(TopicPartition(topic: "t", partition: 1))?.role == .follower(leaderId: 1, epoch: 5))
            #expect(replicas.partition(TopicPartition(topic: "t", partition: 2)) == nil)
            #expect(logs.log(for: TopicPartition(topic: "t", partition: 2)) == nil)

            // Leadership moves: the roles follow; applying the same image again changes nothing.
            let moved = image([(topic, [
                PartitionState(replicas: [2, 1], leader: 1, leaderEpoch: 4, isr: [1]),
                PartitionState(replicas: [1, 2], leader: 2, leaderEpoch: 6, isr: [2]),
                PartitionState(replicas: [1, 3], leader: 1, isr: [1]),
            ])], revision: 2)
            _ = replicas.apply(moved) { _ in LogConfig() }
            _ = replicas.apply(moved) { _ in LogConfig() }
            #expect(replicas.partition(TopicPartition(topic: "t", partition: 0))?.role == .follower(leaderId: 1, epoch: 4))
            #expect(replicas.partition(TopicPartition(topic: "t", partition: 1))?.role == .leader(epoch: 6))
            #expect(replicas.partition(TopicPartition(topic: "t", partition: 1))?.inSyncReplicas == [2])
        }
    }

    @Test func aDeletedOrRecreatedTopicsLogsGo() throws {
        try withManager { replicas, logs in
            let partition = TopicPartition(topic: "t", partition: 0)
            let first = TopicMetadata(name: "t", id: .random(), partitionCount: 1, replicationFactor: 1)
            _ = replicas.apply(image([(first, [.initial(replicas: [me])])], revision: 1)) { _ in LogConfig() }
            let log = try #require(replicas.partition(partition)?.log)
            var builder = RecordBatchBuilder()
            builder.append(key: nil, value: [1], timestamp: 1)
            _ = try log.append(try RecordBatch(validating: builder.build()), leaderEpoch: 0)
            #expect(log.offsets.logEndOffset == 1)

            // The same name under a new id is another topic: it starts empty.
            let second = TopicMetadata(name: "t", id: .random(), partitionCount: 1, replicationFactor: 1)
            _ = replicas.apply(image([(second, [.initial(replicas: [me])])], revision: 2)) { _ in LogConfig() }
            #expect(replicas.partition(partition)?.topicId == second.id)
            #expect(replicas.partition(partition)?.log.offsets.logEndOffset == 0)

            _ = replicas.apply(image([], revision: 3)) { _ in LogConfig() }
            #expect(replicas.partition(partition) == nil && logs.log(for: partition) == nil)
        }
    }

    @Test func aLogOnDiskOfAnOlderTopicOfTheSameNameIsNotServedAsTheNewOne() throws {
        try withManager { replicas, logs in
            let partition = TopicPartition(topic: "t", partition: 0)
            // A log left by a topic "t" that was deleted and created again while this broker was away.
            let old = try logs.createLog(for: partition, config: LogConfig())
            try PartitionMetadataFile.write(.random(), directory: old.directory)
            var builder = RecordBatchBuilder()
            builder.append(key: nil, value: [9], timestamp: 1)
            _ = try old.append(try RecordBatch(validating: builder.build()), leaderEpoch: 0)

            let topic = TopicMetadata(name: "t", id: .random(), partitionCount: 1, replicationFactor: 1)
            _ = replicas.apply(image([(topic, [.initial(replicas: [me])])], revision: 1)) { _ in LogConfig() }
            let hosted = try #require(replicas.partition(partition))
            #expect(hosted.log.offsets.logEndOffset == 0)
            #expect(PartitionMetadataFile.read(directory: hosted.log.directory) == topic.id)
        }
    }

    @Test func aCreationRollbackNeverDeletesALogAnImageStartedHosting() throws {
        try withManager { replicas, logs in
            let partition = TopicPartition(topic: "t", partition: 0)
            let mine = KafkaUUID.random()
            let log = try logs.createLog(for: partition, config: LogConfig())
            try PartitionMetadataFile.write(mine, directory: log.directory)
            // Another broker won the name: its image is applied first, and hosts the partition.
            let winner = TopicMetadata(name: "t", id: .random(), partitionCount: 1, replicationFactor: 1)
            _ = replicas.apply(image([(winner, [.initial(replicas: [me])])], revision: 1)) { _ in LogConfig() }
            replicas.removeUnhostedLogs(topic: "t", indices: [0], topicId: mine)
            #expect(replicas.partition(partition)?.topicId == winner.id)
            #expect(logs.log(for: partition) != nil)
        }
    }
}
