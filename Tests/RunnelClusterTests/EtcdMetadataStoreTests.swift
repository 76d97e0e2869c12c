import Foundation
import Logging
import RunnelProtocol
import Testing
@testable import RunnelCluster

/// The etcd metadata store against a real etcd process: what one broker's store writes,
/// another's sees through its watch; every write that replaces something compares it first.
@Suite(.serialized, .timeLimit(.minutes(1))) struct EtcdMetadataStoreTests {
    let logger = Logger(label: "test")

    func withStores(_ count: Int, _ body: ([EtcdMetadataStore], EtcdProcess) async throws -> Void) async throws {
        let etcd = try await EtcdProcess()
        defer { etcd.stop() }
        var stores: [EtcdMetadataStore] = []
        for index in 0..<count {
            stores.append(try await EtcdMetadataStore.connect(
                endpoints: [etcd.clientURL], founding: .mayFound(proposedClusterId: "cluster-\(index)"), logger: logger))
        }
        try await body(stores, etcd)
        for store in stores { await store.close() }
    }

    /// Waits (bounded by the suite's time limit) until `store`'s image satisfies `condition`.
    func eventually(_ store: EtcdMetadataStore, _ condition: (MetadataImage) -> Bool) async -> MetadataImage {
        for await image in store.updates() where condition(image) { return image }
        return store.currentImage()
    }

    func topic(_ name: String, partitions: Int32) -> TopicMetadata {
        TopicMetadata(name: name, id: .random(), partitionCount: partitions, replicationFactor: 2, configs: ["retention.ms": "1000"])
    }

    @Test func theFirstBrokersClusterIdIsEveryonesAndTopicsAppearEverywhere() async throws {
        try await withStores(2) { stores, etcd in
            #expect(stores[0].clusterId == "cluster-0" && stores[1].clusterId == "cluster-0")
            // A broker whose data belongs to a cluster never founds one where etcd holds none.
            await #expect(throws: ClusterMetadataError.self) {
                _ = try await EtcdMetadataStore.connect(
                    endpoints: [etcd.clientURL], prefix: "/elsewhere", founding: .mustExist(recordedClusterId: "cluster-0"), logger: logger)
            }
            let orders = topic("orders", partitions: 3)
            let states: [PartitionState] = [.initial(replicas: [1, 2]), .initial(replicas: [2, 1]), .initial(replicas: [1, 2])]
            let revision = try await stores[0].createTopic(orders, partitions: states)
            let seen = await eventually(stores[1]) { $0.revision >= revision }
            #expect(seen.topic(named: "orders") == orders)
            #expect(seen.partitions(of: orders).map(\.state) == states)
            #expect(seen.partition(TopicPartition(topic: "orders", partition: 2))?.leader == 1)

            // The name is taken: the second creation fails and leaves nothing behind.
            let rival = topic("orders", partitions: 200)
            await #expect(throws: ClusterMetadataError.self) {
                try await stores[1].createTopic(rival, partitions: Array(repeating: .initial(replicas: [2]), count: 200))
            }
            let stray = try await stores[0].client.get(prefix: "/runnel/partitions/\(rival.id)/")
            #expect(stray.values.isEmpty)
        }
    }

    @Test func topicsGrowChangeConfigsAndAreDeletedWithTheirPartitions() async throws {
        try await withStores(2) { stores, _ in
            let events = topic("events", partitions: 1)
            var revision = try await stores[0].createTopic(events, partitions: [.initial(replicas: [1])])
            _ = await eventually(stores[0]) { $0.revision >= revision }
            // 150 new partitions take more than one etcd transaction; they appear together.
            revision = try await stores[0].addPartitions(to: events, Array(repeating: .initial(replicas: [2]), count: 150))
            var seen = await eventually(stores[1]) { $0.revision >= revision }
            #expect(seen.topic(named: "events")?.partitionCount == 151)
            #expect(seen.partitions(of: seen.topic(named: "events")!).count == 151)
            // A growth computed from the old count is refused: someone grew it meanwhile.
            await #expect(throws: ClusterMetadataError.self) {
                try await stores[1].addPartitions(to: events, [.initial(replicas: [1])])
            }
            revision = try await stores[1].setConfigs(topic: "events", to: ["retention.ms": "5"])
            seen = await eventually(stores[0]) { $0.revision >= revision }
            #expect(seen.topic(named: "events")?.configs == ["retention.ms": "5"])

            // A writer compares against what it has seen: it waits to see its own write first
            // (as TopicLifecycle does after every change).
            _ = await eventually(stores[1]) { $0.revision >= revision }
            revision = try await stores[1].deleteTopic(named: "events")
            seen = await eventually(stores[0]) { $0.revision >= revision }
            #expect(seen.topic(named: "events") == nil && seen.partitions.isEmpty)
            #expect(try await stores[0].client.get(prefix: "/runnel/partitions/").values.isEmpty)
            await #expect(throws: ClusterMetadataError.self) { try await stores[0].deleteTopic(named: "events") }
        }
    }

    @Test func partitionStatesChangeOnlyByCompareAndSet() async throws {
        try await withStores(2) { stores, _ in
            let logs = topic("logs", partitions: 1)
            let revision = try await stores[0].createTopic(logs, partitions: [.initial(replicas: [1, 2])])
            let image = await eventually(stores[1]) { $0.revision >= revision }
            let partition = TopicPartition(topic: "logs", partition: 0)
            let seen = try #require(image.partitions[partition])
            var moved = seen.state
            (moved.leader, moved.leaderEpoch, moved.partitionEpoch) = (2, 1, 1)
            guard case .committed(let committed) = try await stores[1].compareAndSet(partition, expected: seen.version, to: moved, ifGone: nil) else {
                Issue.record("the first compare-and-set must commit")
                return
            }
            // A writer that read the old version loses and is told what is there now.
            var stale = seen.state
            stale.leader = 1
            let conflict = try await stores[0].compareAndSet(partition, expected: seen.version, to: stale, ifGone: nil)
            #expect(conflict == .conflict(VersionedPartitionState(state: moved, version: committed)))
            let after = await eventually(stores[0]) { $0.revision >= committed }
            #expect(after.partition(partition) == moved)
        }
    }

    @Test func producerIdBlocksNeverOverlapAcrossBrokers() async throws {
        try await withStores(2) { stores, _ in
            let firsts = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for store in stores {
                    group.addTask {
                        var firsts: [Int64] = []
                        for _ in 0..<15 { firsts.append(try await store.allocateProducerIds(count: 1000)) }
                        return firsts
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(firsts.sorted() == (0..<30).map { Int64($0) * 1000 })
        }
    }

    @Test func aBrokerIdIsRegisteredOnceAndItsLeaseEndsWithEtcd() async throws {
        try await withStores(2) { stores, etcd in
            let first = BrokerRegistration(brokerId: 1, host: "127.0.0.1", port: 9092, incarnation: "a")
            let lease = try await stores[0].register(first, ttlSeconds: 1)
            #expect(lease.isValid())
            let seen = await eventually(stores[1]) { $0.brokers[1] != nil }
            #expect(seen.brokers[1] == first)

            // Another process with the same id waits out a TTL, then is refused; the first
            // registration is untouched.
            let impostor = BrokerRegistration(brokerId: 1, host: "127.0.0.1", port: 9093, incarnation: "b")
            await #expect(throws: ClusterMetadataError.self) { _ = try await stores[1].register(impostor, ttlSeconds: 1) }
            #expect(lease.isValid())
            #expect(stores[1].currentImage().brokers[1] == first)

            // Released: the id is free at once.
            await lease.release()
            #expect(!lease.isValid())
            let second = try await stores[1].register(impostor, ttlSeconds: 1)
            _ = await eventually(stores[0]) { $0.brokers[1] == impostor }

            // etcd gone: renewals fail, and the lease stops counting as valid by itself.
            etcd.stop()
            await second.lost()
            #expect(!second.isValid())
        }
    }

    @Test func oneControllerAtATimeWithAHigherEpochForEachElection() async throws {
        try await withStores(2) { stores, _ in
            let one = try await stores[0].register(BrokerRegistration(brokerId: 1, host: "h", port: 1, incarnation: "1"), ttlSeconds: 1)
            let two = try await stores[1].register(BrokerRegistration(brokerId: 2, host: "h", port: 2, incarnation: "2"), ttlSeconds: 1)
            let firstEpoch = try #require(try await stores[0].campaign(brokerId: 1, lease: one))
            #expect(try await stores[1].campaign(brokerId: 2, lease: two) == nil)
            _ = await eventually(stores[1]) { $0.controllerId == 1 }

            // A controller's write is fenced by its epoch: once it lost the key, it writes nothing.
            let revision = try await stores[0].createTopic(topic("t", partitions: 1), partitions: [.initial(replicas: [1])])
            let image = await eventually(stores[0]) { $0.revision >= revision }
            let partition = TopicPartition(topic: "t", partition: 0)
            let version = try #require(image.partitions[partition]?.version)

            await one.release()  // the controller's lease ends: its key goes
            _ = await eventually(stores[1]) { $0.controllerId == nil }
            let secondEpoch = try #require(try await stores[1].campaign(brokerId: 2, lease: two))
            #expect(secondEpoch > firstEpoch)
            var offline = image.partitions[partition]!.state
            offline.leader = -1
            let fenced = try await stores[0].compareAndSet(partition, expected: version, to: offline, controllerEpoch: firstEpoch)
            if case .committed = fenced { Issue.record("a deposed controller's write must not commit") }
            let allowed = try await stores[1].compareAndSet(partition, expected: version, to: offline, controllerEpoch: secondEpoch)
            guard case .committed = allowed else {
                Issue.record("the new controller's write must commit: \(allowed)")
                return
            }
            await two.release()
        }
    }
}
