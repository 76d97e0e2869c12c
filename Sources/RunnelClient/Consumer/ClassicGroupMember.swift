import Logging
import NIOCore
import RunnelProtocol

/// One consumer's membership in a consumer group under the classic protocol (JoinGroup,
/// SyncGroup, Heartbeat, LeaveGroup), plus the group's committed offsets (OffsetCommit,
/// OffsetFetch). The leader of each generation runs the assignor.
actor ClassicGroupMember {
    let groupId: String
    private let configuration: ConsumerConfiguration
    private let cluster: KafkaCluster
    private let logger: Logger
    private(set) var memberId = ""
    private(set) var generationId: Int32 = -1
    private(set) var isLeader = false
    /// A join is under way: heartbeats wait (the coordinator would answer them for the old
    /// generation, and their answer would undo the join's).
    private var joining = false
    private var lastHeartbeat = NIODeadline.now()

    init(groupId: String, configuration: ConsumerConfiguration, cluster: KafkaCluster, logger: Logger) {
        self.groupId = groupId
        self.configuration = configuration
        self.cluster = cluster
        self.logger = logger
    }

    var isJoined: Bool { generationId >= 0 }

    /// Joins (or rejoins) the group subscribed to `topics` and returns this member's partitions.
    func join(topics: [String]) async throws -> [TopicPartition] {
        joining = true
        defer {
            joining = false
            lastHeartbeat = .now()
        }
        while true {
            do {
                return try await joinOnce(topics: topics)
            } catch KafkaClientError.broker(let code, let context) where code == .memberIdRequired {
                logger.debug("\(context): rejoining with the member id the coordinator gave")
            } catch KafkaClientError.broker(let code, _) where code == .unknownMemberId || code == .illegalGeneration {
                memberId = ""
                generationId = -1
            } catch KafkaClientError.broker(let code, _) where code == .rebalanceInProgress {
                continue
            } catch let error as KafkaClientError where error.isRetriable {
                logger.debug("joining \(groupId): \(error); retrying")
                cluster.forgetCoordinator(group: groupId)
                try await Task.sleep(nanoseconds: UInt64(configuration.client.retryBackoff.nanoseconds))
            }
        }
    }

    private func joinOnce(topics: [String]) async throws -> [TopicPartition] {
        let coordinator = try await cluster.coordinatorConnection(group: groupId)
        var subscription = ConsumerProtocolSubscription()
        subscription.topics = topics.sorted()
        var metadata = ByteBuffer()
        metadata.writeInteger(Int16(1))
        subscription.encode(to: &metadata, version: 1)

        var join = JoinGroupRequest()
        join.groupId = groupId
        join.sessionTimeoutMs = Int32(configuration.sessionTimeout.nanoseconds / 1_000_000)
        join.rebalanceTimeoutMs = Int32(clamping: configuration.maxPollInterval.nanoseconds / 1_000_000)
        join.memberId = memberId
        join.groupInstanceId = configuration.groupInstanceId
        join.protocolType = "consumer"
        join.protocols = configuration.assignors.map { .init(name: $0.rawValue, metadata: metadata) }
        // JoinGroup waits for the whole group: allow it the rebalance timeout.
        let joined = try await coordinator.send(join, timeout: configuration.maxPollInterval + .seconds(5))
        if joined.errorCode == KafkaErrorCode.memberIdRequired.rawValue { memberId = joined.memberId }
        try checkGroupError(joined.errorCode, "JoinGroup \(groupId)")
        memberId = joined.memberId
        // The generation counts as joined only once SyncGroup has answered.
        generationId = -1
        isLeader = joined.leader == joined.memberId

        var sync = SyncGroupRequest()
        sync.groupId = groupId
        sync.generationId = joined.generationId
        sync.memberId = memberId
        sync.groupInstanceId = configuration.groupInstanceId
        sync.protocolType = "consumer"
        sync.protocolName = joined.protocolName
        if isLeader {
            sync.assignments = try await assign(members: joined.members, protocol: joined.protocolName)
        }
        let synced = try await coordinator.send(sync)
        try checkGroupError(synced.errorCode, "SyncGroup \(groupId)")
        generationId = joined.generationId
        var bytes = synced.assignment
        guard bytes.readableBytes >= 2, let version = bytes.readInteger(as: Int16.self) else { return [] }
        let assignment = try ConsumerProtocolAssignment(from: &bytes, version: min(version, 3))
        logger.debug("joined \(groupId) generation \(generationId) as \(memberId)\(isLeader ? " (leader)" : "")")
        return assignment.assignedPartitions.flatMap { topic in
            topic.partitions.map { TopicPartition(topic: topic.topic, partition: $0) }
        }
    }

    /// The leader's part: read every member's subscription, assign, encode.
    private func assign(members: [JoinGroupResponse.JoinGroupResponseMember], protocol name: String?) async throws
        -> [SyncGroupRequest.SyncGroupRequestAssignment]
    {
        let assignor = PartitionAssignor(rawValue: name ?? "") ?? .range
        var subscriptions: [String: [String]] = [:]
        for member in members {
            var bytes = member.metadata
            guard let version = bytes.readInteger(as: Int16.self) else { continue }
            subscriptions[member.memberId] = try ConsumerProtocolSubscription(from: &bytes, version: min(version, 3)).topics
        }
        let topics = Array(Set(subscriptions.values.flatMap { $0 }))
        let metadata = try await cluster.refreshMetadata(topics: topics)
        var counts: [String: Int] = [:]
        for topic in topics { counts[topic] = metadata.partitionCount(of: topic) }
        return assignor.assign(members: subscriptions, partitions: counts).map { member, partitions in
            var assignment = ConsumerProtocolAssignment()
            let byTopic = Dictionary(grouping: partitions, by: \.topic)
            assignment.assignedPartitions = byTopic.keys.sorted().map { topic in
                .init(topic: topic, partitions: byTopic[topic]!.map(\.partition).sorted())
            }
            var bytes = ByteBuffer()
            bytes.writeInteger(Int16(0))
            assignment.encode(to: &bytes, version: 0)
            return .init(memberId: member, assignment: bytes)
        }
    }

    enum HeartbeatOutcome { case stable, rejoin }

    func heartbeat() async throws -> HeartbeatOutcome {
        guard isJoined else { return .rejoin }
        guard !joining else { return .stable }
        let generation = generationId
        var request = HeartbeatRequest()
        request.groupId = groupId
        request.generationId = generation
        request.memberId = memberId
        request.groupInstanceId = configuration.groupInstanceId
        let response: HeartbeatResponse
        do {
            response = try await cluster.coordinatorConnection(group: groupId).send(request)
        } catch let error as KafkaClientError where error.isRetriable {
            // The coordinator is unreachable: find it again next time. Once a whole session
            // timeout has passed without a heartbeat it has surely evicted this member.
            cluster.forgetCoordinator(group: groupId)
            if NIODeadline.now() - lastHeartbeat > configuration.sessionTimeout, generationId == generation {
                generationId = -1
                return .rejoin
            }
            return .stable
        }
        // A join that ran meanwhile decides the membership, not this older answer.
        guard generationId == generation, !joining else { return .stable }
        switch KafkaErrorCode(rawValue: response.errorCode) {
        case .none:
            lastHeartbeat = .now()
            return .stable
        case .rebalanceInProgress:
            lastHeartbeat = .now()
            return .rejoin
        case .unknownMemberId, .illegalGeneration, .fencedInstanceId:
            memberId = ""
            generationId = -1
            return .rejoin
        case .notCoordinator, .coordinatorNotAvailable, .coordinatorLoadInProgress:
            cluster.forgetCoordinator(group: groupId)
            return .stable
        case let code:
            throw KafkaClientError.broker(code, "Heartbeat \(groupId)")
        }
    }

    func leave() async {
        guard isJoined || !memberId.isEmpty else { return }
        // A static member keeps its place across restarts: it does not leave (as in Java).
        guard configuration.groupInstanceId == nil else { return }
        var request = LeaveGroupRequest()
        request.groupId = groupId
        request.memberId = memberId
        request.members = [.init(memberId: memberId, groupInstanceId: configuration.groupInstanceId, reason: "the consumer is closing")]
        _ = try? await cluster.coordinatorConnection(group: groupId).send(request)
        memberId = ""
        generationId = -1
    }

    /// Commits `offsets` (the next offset to read, per partition) for this generation.
    func commit(_ offsets: [TopicPartition: Int64]) async throws {
        guard !offsets.isEmpty else { return }
        let (generation, member) = (generationId, memberId)
        try await withCoordinatorRetries {
            try await GroupOffsets.commit(
                offsets, group: groupId, generation: generation, memberId: member, instanceId: configuration.groupInstanceId,
                cluster: cluster)
        }
    }

    /// The group's committed offsets for `partitions`; partitions without one are left out.
    func committed(_ partitions: [TopicPartition]) async throws -> [TopicPartition: Int64] {
        try await withCoordinatorRetries {
            try await GroupOffsets.fetch(group: groupId, partitions: partitions, cluster: cluster)
        }
    }

    /// Runs a coordinator request again (up to 5 times, after `retry.backoff.ms`) when the
    /// coordinator moved, is loading, or could not be reached.
    private func withCoordinatorRetries<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await body()
            } catch let error as KafkaClientError where error.isRetriable && attempt < 5 {
                attempt += 1
                cluster.forgetCoordinator(group: groupId)
                try await Task.sleep(nanoseconds: UInt64(configuration.client.retryBackoff.nanoseconds))
            }
        }
    }

    private func checkGroupError(_ code: Int16, _ context: String) throws {
        let error = KafkaErrorCode(rawValue: code)
        if error == .notCoordinator || error == .coordinatorNotAvailable { cluster.forgetCoordinator(group: groupId) }
        try KafkaClientError.check(code, context)
    }
}
