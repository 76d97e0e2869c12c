/// A consumer group of the KIP-848 protocol: the broker computes the assignment, and each
/// member moves to it through heartbeats, giving partitions up before others get them.
public struct ConsumerGroup: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public var memberId: String
        public var instanceId: String?
        public var rackId: String?
        public var clientId: String
        public var clientHost: String
        /// Bumped to the group's assignment epoch once the member owns exactly its target.
        public var memberEpoch: Int32
        /// The topics it named.
        public var subscribedTopics: [String]
        /// The regular expression it subscribed by (KIP-848 resolves it on the broker), and the
        /// topics it matched at the member's last heartbeat.
        public var subscribedTopicRegex: String?
        public var resolvedTopics: [String] = []
        /// What the member last said it owns.
        public var owned: Set<GroupTopicPartition> = []
        /// What it was last told to own (it may not have caught up yet).
        public var assigned: Set<GroupTopicPartition> = []
        var rebalanceTimeoutMs: Int32
        var lastHeartbeat: Int64

        /// Every topic it is subscribed to, by name or by its regex.
        var topics: Set<String> { Set(subscribedTopics).union(resolvedTopics) }
    }

    public let groupId: String
    /// Bumped whenever membership or subscriptions change.
    public internal(set) var groupEpoch: Int32 = 0
    /// The group epoch the target assignment was computed for.
    public internal(set) var assignmentEpoch: Int32 = 0
    public internal(set) var members: [String: Member] = [:]
    public internal(set) var targetAssignment: [String: Set<GroupTopicPartition>] = [:]
    /// The server-side assignor the members asked for: "uniform" (default) or "range".
    public internal(set) var assignor = "uniform"

    init(groupId: String) {
        self.groupId = groupId
    }

    /// Kafka's consumer-group states, for ListGroups and ConsumerGroupDescribe.
    public var stateName: String {
        if members.isEmpty { return "Empty" }
        if assignmentEpoch < groupEpoch { return "Assigning" }
        let reconciled = members.values.allSatisfy { $0.memberEpoch == assignmentEpoch && $0.owned == targetAssignment[$0.memberId] ?? [] }
        return reconciled ? "Stable" : "Reconciling"
    }

    /// Computes every member's target with the group's assignor, per subscribed topic:
    /// - uniform: each member gets its share of the topic's partitions, keeping partitions it
    ///   already has where its share allows, so a rebalance moves as little as possible;
    /// - range: members (sorted by id) get consecutive ranges of partitions, the first ones one
    ///   more when the count does not divide evenly, as Kafka's RangeAssignor.
    mutating func computeTargetAssignment(partitionCounts: [String: Int32]) {
        if assignor == "range" {
            computeRangeAssignment(partitionCounts: partitionCounts)
            return
        }
        let memberIds = members.keys.sorted()
        var target = Dictionary(uniqueKeysWithValues: memberIds.map { ($0, Set<GroupTopicPartition>()) })
        let topics = Set(members.values.flatMap(\.topics)).sorted()
        for topic in topics {
            let subscribers = memberIds.filter { members[$0]!.topics.contains(topic) }
            guard !subscribers.isEmpty, let count = partitionCounts[topic] else { continue }
            let partitions = (0..<count).map { GroupTopicPartition(topic: topic, partition: $0) }
            let quota = partitions.count / subscribers.count
            let extra = partitions.count % subscribers.count
            var limits = Dictionary(uniqueKeysWithValues: subscribers.enumerated().map { ($0.element, quota + ($0.offset < extra ? 1 : 0)) })
            var unassigned: [GroupTopicPartition] = []
            // First keep current owners where their quota allows.
            for partition in partitions {
                if let owner = subscribers.first(where: { members[$0]!.assigned.contains(partition) }), limits[owner]! > 0 {
                    target[owner]!.insert(partition)
                    limits[owner]! -= 1
                } else {
                    unassigned.append(partition)
                }
            }
            for partition in unassigned {
                let member = subscribers.first { limits[$0]! > 0 }!
                target[member]!.insert(partition)
                limits[member]! -= 1
            }
        }
        targetAssignment = target
        assignmentEpoch = groupEpoch
    }

    private mutating func computeRangeAssignment(partitionCounts: [String: Int32]) {
        let memberIds = members.keys.sorted()
        var target = Dictionary(uniqueKeysWithValues: memberIds.map { ($0, Set<GroupTopicPartition>()) })
        for topic in Set(members.values.flatMap(\.topics)).sorted() {
            let subscribers = memberIds.filter { members[$0]!.topics.contains(topic) }
            guard !subscribers.isEmpty, let count = partitionCounts[topic] else { continue }
            let quota = Int(count) / subscribers.count
            let extra = Int(count) % subscribers.count
            var next = 0
            for (index, member) in subscribers.enumerated() {
                let size = quota + (index < extra ? 1 : 0)
                for partition in next..<(next + size) { target[member]!.insert(GroupTopicPartition(topic: topic, partition: Int32(partition))) }
                next += size
            }
        }
        targetAssignment = target
        assignmentEpoch = groupEpoch
    }

    /// Kafka's internal topics, which a regex never subscribes to (as `Topic.isInternal`).
    static let internalTopics: Set<String> = ["__consumer_offsets", "__transaction_state", "__share_group_state"]

    /// The topics among `names` the whole of which `pattern` matches (`TopicRegex`: linear time,
    /// RE2's syntax), sorted; nil if the pattern is not a supported regular expression.
    static func topics(matching pattern: String, among names: some Sequence<String>) -> [String]? {
        guard let regex = TopicRegex(pattern) else { return nil }
        return names.filter { !internalTopics.contains($0) && regex.matches($0) }.sorted()
    }

    /// Partitions another member may still be consuming.
    func claimedByOthers(than memberId: String) -> Set<GroupTopicPartition> {
        members.values.filter { $0.memberId != memberId }.reduce(into: Set()) { $0.formUnion($1.owned); $0.formUnion($1.assigned) }
    }
}
