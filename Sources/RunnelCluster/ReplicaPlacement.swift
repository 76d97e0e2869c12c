/// Where a new partition's replicas go: round-robin over the live brokers, alternating racks
/// when `broker.rack` is set (the idea of Kafka's StripedReplicaPlacer), so replicas of one
/// partition land on different brokers (and racks, when there are enough) and leaders spread.
///
/// Pure: the brokers and the starting point are passed in, so tests need no cluster.
public enum ReplicaPlacement {
    /// Replica lists for `count` partitions starting at index `firstIndex`, each of
    /// `replicationFactor` distinct brokers. `start` offsets the round-robin (random per topic
    /// in a cluster, so topics do not all lead on the lowest broker id).
    public static func place(
        count: Int32, firstIndex: Int32 = 0, replicationFactor: Int16, brokers: [BrokerRegistration], start: Int
    ) throws(ClusterMetadataError) -> [[Int32]] {
        guard replicationFactor > 0 else {
            throw ClusterMetadataError(.invalidReplicationFactor, "replication factor must be larger than 0")
        }
        guard Int(replicationFactor) <= brokers.count else {
            throw ClusterMetadataError(
                .invalidReplicationFactor,
                "replication factor \(replicationFactor) is larger than the \(brokers.count) available broker\(brokers.count == 1 ? "" : "s")")
        }
        let ordered = rackAlternating(brokers)
        let n = ordered.count
        return (0..<count).map { offset in
            let position = Int(firstIndex + offset)
            let first = (start + position) % n
            // Kafka's classic assignment: follower j sits 1 + (lap + j) mod (n - 1) after the
            // leader, so followers of one leader differ from lap to lap and never repeat.
            let lap = (start + position) / n
            var chosen = [ordered[first]]
            let rackCount = Set(ordered.map { $0.rack ?? "" }).count
            for j in 0..<(Int(replicationFactor) - 1) {
                let shift = 1 + (lap + j) % (n - 1)
                // From there, the first broker not chosen yet, on a rack not used yet while
                // unused racks remain.
                let usedRacks = Set(chosen.map { $0.rack ?? "" })
                let racksLeft = usedRacks.count < rackCount
                let pick = (0..<n).lazy.map { ordered[(first + shift + $0) % n] }.first { candidate in
                    !chosen.contains { $0.brokerId == candidate.brokerId } && (!racksLeft || !usedRacks.contains(candidate.rack ?? ""))
                }
                chosen.append(pick!)  // n > replicas chosen so far, so one is always free
            }
            return chosen.map(\.brokerId)
        }
    }

    /// Brokers ordered so that consecutive ones are on different racks where possible:
    /// racks' members interleaved (rack A's first, rack B's first, ..., rack A's second, ...).
    /// Without racks, simply by id.
    static func rackAlternating(_ brokers: [BrokerRegistration]) -> [BrokerRegistration] {
        let byRack = Dictionary(grouping: brokers.sorted { $0.brokerId < $1.brokerId }) { $0.rack ?? "" }
        let racks = byRack.keys.sorted()
        var result: [BrokerRegistration] = []
        var round = 0
        while result.count < brokers.count {
            for rack in racks where round < byRack[rack]!.count { result.append(byRack[rack]![round]) }
            round += 1
        }
        return result
    }
}
