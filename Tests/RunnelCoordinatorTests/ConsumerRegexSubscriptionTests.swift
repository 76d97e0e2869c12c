@testable import RunnelCoordinator
import Testing

/// KIP-848 subscriptions by regular expression, resolved by the coordinator against the topics
/// that exist at each heartbeat.
@Suite struct ConsumerRegexSubscriptionTests {
    var coordinator = GroupCoordinator(config: .init())

    mutating func beat(epoch: Int32, regex: String?, topics: [String: Int32], owned: [GroupTopicPartition]? = nil)
        -> GroupCoordinator.ConsumerHeartbeatResult
    {
        coordinator.consumerHeartbeat(
            .init(groupId: "g", memberId: "m", memberEpoch: epoch, instanceId: nil, rackId: nil, clientId: "c", clientHost: "/h",
                  rebalanceTimeoutMs: 30_000, subscribedTopics: epoch == 0 ? [] : nil, ownedPartitions: owned,
                  subscribedTopicRegex: regex),
            partitionCounts: topics, now: 0)
    }

    func topics(_ result: GroupCoordinator.ConsumerHeartbeatResult) -> Set<String>? {
        result.assignment.map { Set($0.map(\.topic)) }
    }

    @Test mutating func aRegexSubscribesEveryWholeMatchButInternalTopicsAndFollowsNewTopics() {
        var existing: [String: Int32] = ["rx_a": 2, "rx_b": 1, "other": 2, "xrx_c": 1, "__consumer_offsets": 50]
        let joined = beat(epoch: 0, regex: "rx_.*", topics: existing)
        #expect(joined.errorCode == 0 && topics(joined) == ["rx_a", "rx_b"])
        #expect(coordinator.consumerGroups["g"]?.members["m"]?.resolvedTopics == ["rx_a", "rx_b"])
        let epoch = joined.memberEpoch

        // A matching topic created later joins the subscription at the next heartbeat (a new
        // group epoch); the regex is not sent again (nil: unchanged).
        existing["rx_new"] = 3
        let grown = beat(epoch: epoch, regex: nil, topics: existing, owned: joined.assignment)
        #expect(grown.memberEpoch == epoch + 1 && topics(grown) == ["rx_a", "rx_b", "rx_new"])

        // "" drops the regex: nothing is subscribed any more.
        let dropped = beat(epoch: grown.memberEpoch, regex: "", topics: existing, owned: grown.assignment)
        #expect(dropped.errorCode == 0 && coordinator.consumerGroups["g"]?.members["m"]?.resolvedTopics == [])
        #expect(coordinator.consumerGroups["g"]?.members["m"]?.subscribedTopicRegex == nil)
    }

    @Test mutating func anInvalidRegexIsRefusedWithInvalidRegularExpression() {
        let refused = beat(epoch: 0, regex: "rx_(", topics: ["rx_a": 1])
        #expect(refused.errorCode == 128 && refused.errorMessage?.contains("rx_(") == true)
        #expect(coordinator.consumerGroups["g"]?.members.isEmpty ?? true)
    }
}
