import Testing
@testable import RunnelCluster

@Suite struct ReplicaPlacementTests {
    func brokers(_ racks: [String?]) -> [BrokerRegistration] {
        racks.enumerated().map { BrokerRegistration(brokerId: Int32($0.offset + 1), host: "h", port: 1, rack: $0.element, incarnation: "") }
    }

    @Test func replicasAreDistinctAndLeadersSpreadEvenly() throws {
        let placed = try ReplicaPlacement.place(count: 12, replicationFactor: 3, brokers: brokers([nil, nil, nil, nil]), start: 1)
        #expect(placed.count == 12)
        for replicas in placed { #expect(Set(replicas).count == 3) }
        let leaders = Dictionary(grouping: placed.map { $0[0] }, by: { $0 }).mapValues(\.count)
        #expect(leaders == [1: 3, 2: 3, 3: 3, 4: 3])
        // Every broker holds the same number of replicas.
        let held = Dictionary(grouping: placed.flatMap { $0 }, by: { $0 }).mapValues(\.count)
        #expect(held == [1: 9, 2: 9, 3: 9, 4: 9])
    }

    @Test func replicasOfOnePartitionGoToDifferentRacks() throws {
        let cluster = brokers(["a", "a", "b", "b", "c", "c"])
        let rackOf = Dictionary(uniqueKeysWithValues: cluster.map { ($0.brokerId, $0.rack!) })
        let placed = try ReplicaPlacement.place(count: 30, replicationFactor: 3, brokers: cluster, start: 4)
        for replicas in placed { #expect(Set(replicas.map { rackOf[$0]! }).count == 3, "\(replicas)") }
    }

    @Test func moreReplicasThanBrokersIsRefused() {
        #expect(throws: ClusterMetadataError.self) {
            try ReplicaPlacement.place(count: 1, replicationFactor: 3, brokers: brokers([nil, nil]), start: 0)
        }
        #expect(throws: ClusterMetadataError.self) {
            try ReplicaPlacement.place(count: 1, replicationFactor: 0, brokers: brokers([nil]), start: 0)
        }
    }

    @Test func partitionsAddedLaterContinueTheRoundRobin() throws {
        let cluster = brokers([nil, nil, nil])
        let all = try ReplicaPlacement.place(count: 6, replicationFactor: 2, brokers: cluster, start: 2)
        let tail = try ReplicaPlacement.place(count: 3, firstIndex: 3, replicationFactor: 2, brokers: cluster, start: 2)
        #expect(Array(all[3...]) == tail)
    }
}
