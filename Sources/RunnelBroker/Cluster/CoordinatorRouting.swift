import RunnelCluster
import RunnelProtocol

/// Where a group is coordinated: by the leader of its `__consumer_offsets` partition (Kafka's
/// rule), which FindCoordinator names and every group request checks.
enum CoordinatorLocation: Equatable {
    case here
    case elsewhere(BrokerRegistration)
    /// No broker can coordinate it now (the partition has no live leader): COORDINATOR_NOT_AVAILABLE,
    /// which clients retry after finding the coordinator again.
    case unavailable(String)
    /// `__consumer_offsets` is not in this broker's image yet. FindCoordinator answers
    /// COORDINATOR_NOT_AVAILABLE (and creates it); a group request came because another broker,
    /// whose image already has the new topic, named this one, which will know in a moment: it
    /// waits for that, then answers COORDINATOR_LOAD_IN_PROGRESS, which clients retry.
    case notYetCreated
    /// Led here, its groups not loaded yet: COORDINATOR_LOAD_IN_PROGRESS, retried by clients.
    case loading
}

extension HandlerContext {
    func coordinator(for groupId: String) -> CoordinatorLocation {
        let image = metadata.image
        let partition = TopicPartition(topic: GroupCoordinatorRuntime.offsetsTopic, partition: groups.partition(for: groupId))
        guard let state = image.partition(partition) else {
            return .notYetCreated
        }
        guard state.leader >= 0, let leader = image.brokers[state.leader] else {
            return .unavailable("\(partition) has no live leader")
        }
        guard leader.brokerId == config.nodeId else { return .elsewhere(leader) }
        // Led here, but its log may have failed to open, or its groups not be loaded yet.
        guard replicas.partition(partition) != nil else { return .unavailable("\(partition) is not open on this broker") }
        return groups.isLoaded(partition.partition) ? .here : .loading
    }

    /// How long a group request waits for this broker to become the group's coordinator when
    /// it is about to (see `coordinatorError`).
    static let coordinatorWait = Duration.seconds(5)

    /// The error a group request gets on a broker that does not coordinate the group; nil here.
    ///
    /// While this broker is about to coordinate the group — `__consumer_offsets` is not in its
    /// image yet, or the partition is led here and its groups are loading — the request waits,
    /// up to `coordinatorWait`, instead of answering at once: a new cluster's first group meets
    /// exactly that (the broker that created the topic names the leader before the leader has
    /// created 50 logs), and clients give up on these errors after a few quick retries
    /// (librdkafka reports an OffsetFetch or OffsetCommit that failed so to the application).
    func coordinatorError(for groupId: String) async -> KafkaErrorCode? {
        let deadline = ContinuousClock.now + Self.coordinatorWait
        var location = coordinator(for: groupId)
        while location == .notYetCreated || location == .loading, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
            if Task.isCancelled { break }
            location = coordinator(for: groupId)
        }
        return switch location {
        case .here: nil
        case .elsewhere: .notCoordinator
        case .unavailable: .coordinatorNotAvailable
        case .loading, .notYetCreated: .coordinatorLoadInProgress
        }
    }

    /// Creates `__consumer_offsets` in a cluster once `offsets.topic.replication.factor`
    /// brokers are live (as Kafka does); until then FindCoordinator answers
    /// COORDINATOR_NOT_AVAILABLE. A creation that races another broker's is fine.
    func createOffsetsTopicIfReady() async {
        let image = metadata.image
        guard image.topic(named: GroupCoordinatorRuntime.offsetsTopic) == nil,
              image.brokers.count >= Int(groups.replicationFactor)
        else { return }
        do {
            _ = try await topics.create(
                name: GroupCoordinatorRuntime.offsetsTopic, partitions: config.offsetsTopicNumPartitions,
                replicationFactor: groups.replicationFactor, configs: GroupCoordinatorRuntime.offsetsTopicConfigs, isInternal: true)
            logger.info("created \(GroupCoordinatorRuntime.offsetsTopic) with \(config.offsetsTopicNumPartitions) partitions")
        } catch let error as ClusterMetadataError where error.code == .topicAlreadyExists {
        } catch {
            logger.warning("creating \(GroupCoordinatorRuntime.offsetsTopic) failed: \(error)")
        }
    }
}
