import Foundation
import RunnelProtocol
import Testing
@testable import RunnelCluster

@Suite struct EmbeddedMetadataStoreTests {
    func directory() throws -> String {
        let path = NSTemporaryDirectory() + "runnel-embedded-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func aFileWrittenBeforePartitionStatesLoadsWithThisBrokerLeadingAlone() throws {
        let path = try directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        // What brokers before per-partition state wrote.
        let old = #"{"clusterId":"abc","producerIdsAllocatedUpTo":2000,"topics":{"t":{"configs":{},"id":"7c5d3ab0-1a5e-4a39-9b7b-2cbb7f3e6d10","isInternal":false,"name":"t","partitionCount":2,"replicationFactor":1}}}"#
        try old.write(toFile: path + "/cluster-metadata.json", atomically: true, encoding: .utf8)
        let store = try EmbeddedMetadataStore(directory: path, brokerId: 4)
        let image = store.currentImage()
        #expect(image.clusterId == "abc" && image.controllerId == 4)
        for index: Int32 in 0..<2 {
            #expect(image.partition(TopicPartition(topic: "t", partition: index)) == PartitionState(replicas: [4], leader: 4, isr: [4]))
        }
    }

    @Test func changesPersistAndPartitionVersionsMoveOnlyWithTheirState() async throws {
        let path = try directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try EmbeddedMetadataStore(directory: path, brokerId: 1)
        let topic = TopicMetadata(name: "a", id: .random(), partitionCount: 1, replicationFactor: 1)
        _ = try await store.createTopic(topic, partitions: [.initial(replicas: [1])])
        let partition = TopicPartition(topic: "a", partition: 0)
        let version = try #require(store.currentImage().partitions[partition]?.version)
        // Another topic's change leaves this partition's version alone, as an etcd key's would be.
        _ = try await store.createTopic(TopicMetadata(name: "b", id: .random(), partitionCount: 1, replicationFactor: 1), partitions: [.initial(replicas: [1])])
        #expect(store.currentImage().partitions[partition]?.version == version)
        var moved = PartitionState.initial(replicas: [1])
        moved.leaderEpoch = 1
        guard case .committed = try await store.compareAndSet(partition, expected: version, to: moved, ifGone: nil) else {
            Issue.record("the first compare-and-set must commit")
            return
        }
        guard case .conflict(let current) = try await store.compareAndSet(partition, expected: version, to: .initial(replicas: [1]), ifGone: nil) else {
            Issue.record("a stale compare-and-set must fail")
            return
        }
        #expect(current?.state == moved)
        // A restart reads back what was committed.
        let reopened = try EmbeddedMetadataStore(directory: path, brokerId: 1)
        #expect(reopened.currentImage().partition(partition) == moved)
        #expect(reopened.currentImage().topics.map(\.name) == ["a", "b"])
        await #expect(throws: ClusterMetadataError.self) {
            try await reopened.createTopic(TopicMetadata(name: "a", id: .random(), partitionCount: 1, replicationFactor: 1), partitions: [])
        }
    }

    @Test func subscribersSeeEveryChangeAndCanGoAwayWhileChangesArrive() async throws {
        let path = try directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try EmbeddedMetadataStore(directory: path, brokerId: 1)
        // Subscribers that stop early while writes keep publishing: no deadlock, no lost wake-up.
        for round in 0..<20 {
            let updates = store.updates()
            let reader = Task { for await image in updates where image.topic(named: "t\(round)") != nil { return true }; return false }
            let writer = Task {
                _ = try await store.createTopic(
                    TopicMetadata(name: "t\(round)", id: .random(), partitionCount: 1, replicationFactor: 1), partitions: [.initial(replicas: [1])])
            }
            try await writer.value
            #expect(await reader.value)
            let abandoned = Task { for await _ in store.updates() {} }
            abandoned.cancel()
        }
        await store.close()
    }
}
