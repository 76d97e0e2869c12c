import RunnelProtocol

/// The client-side assignors of the classic group protocol: the group's leader runs one over
/// every member's subscription and hands each member its partitions through SyncGroup. Both
/// compute what the Java client's `RangeAssignor` and `RoundRobinAssignor` compute, so a group
/// mixing Runnel and Java consumers agrees on the protocol name and the outcome.
public enum PartitionAssignor: String, Sendable, CaseIterable {
    case range = "range"
    case roundRobin = "roundrobin"

    /// Partitions per member. `members` maps member id to subscribed topics; `partitions` maps
    /// a topic to its partition count.
    public func assign(members: [String: [String]], partitions: [String: Int]) -> [String: [TopicPartition]] {
        var assignment = members.mapValues { _ in [TopicPartition]() }
        switch self {
        case .range:
            // Per topic: the sorted subscribers split its partitions into contiguous ranges; the
            // first `count % n` members take one extra.
            let topics = Set(members.values.flatMap { $0 }).sorted()
            for topic in topics {
                guard let count = partitions[topic] else { continue }
                let subscribers = members.filter { $0.value.contains(topic) }.keys.sorted()
                guard !subscribers.isEmpty else { continue }
                let share = count / subscribers.count
                let extra = count % subscribers.count
                var next = 0
                for (index, member) in subscribers.enumerated() {
                    let length = share + (index < extra ? 1 : 0)
                    for partition in next..<(next + length) {
                        assignment[member]!.append(TopicPartition(topic: topic, partition: Int32(partition)))
                    }
                    next += length
                }
            }
        case .roundRobin:
            // All partitions of all topics, sorted, dealt in turn to the sorted members,
            // skipping members not subscribed to a partition's topic.
            let sortedMembers = members.keys.sorted()
            let all = Set(members.values.flatMap { $0 }).sorted().flatMap { topic in
                (0..<(partitions[topic] ?? 0)).map { TopicPartition(topic: topic, partition: Int32($0)) }
            }
            var turn = 0
            for topicPartition in all {
                for _ in 0..<sortedMembers.count {
                    let member = sortedMembers[turn % sortedMembers.count]
                    turn += 1
                    if members[member]!.contains(topicPartition.topic) {
                        assignment[member]!.append(topicPartition)
                        break
                    }
                }
            }
        }
        return assignment
    }
}
