import NIOCore
import RunnelProtocol

/// Administers topics, configs, consumer groups and their offsets (Kafka's `Admin` client).
public final class Admin: Sendable {
    public let cluster: KafkaCluster

    public init(configuration: ClientConfiguration) {
        cluster = KafkaCluster(configuration: configuration)
    }

    public func close() async { await cluster.close() }

    /// Runs `body` with an admin client that is closed afterwards, whatever happens.
    public static func with<T: Sendable>(_ configuration: ClientConfiguration, _ body: (Admin) async throws -> T) async throws -> T {
        let admin = Admin(configuration: configuration)
        do {
            let result = try await body(admin)
            await admin.close()
            return result
        } catch {
            await admin.close()
            throw error
        }
    }

    var requestTimeoutMs: Int32 { Int32(clamping: cluster.configuration.requestTimeout.nanoseconds / 1_000_000) }

    // MARK: Cluster

    /// The brokers, the controller and every topic's partitions (internal topics too), from
    /// one Metadata request.
    public func describeCluster() async throws -> ClusterMetadata {
        try await cluster.refreshMetadata(topics: nil)
    }

    // MARK: Topics

    /// Creates `name`; -1 partitions or replication factor take the broker's defaults.
    public func createTopic(_ name: String, partitions: Int32 = -1, replicationFactor: Int16 = -1, configs: [String: String] = [:]) async throws {
        var request = CreateTopicsRequest()
        request.timeoutMs = requestTimeoutMs
        request.topics = [.init(name: name, numPartitions: partitions, replicationFactor: replicationFactor,
                                configs: configs.sorted { $0.key < $1.key }.map { .init(name: $0.key, value: $0.value) })]
        let response = try await cluster.withAnyBroker { try await $0.send(request) }
        for topic in response.topics {
            try KafkaClientError.check(topic.errorCode, "CreateTopics \(topic.name)\(topic.errorMessage.map { ": \($0)" } ?? "")")
        }
    }

    public func deleteTopics(_ names: [String]) async throws {
        var request = DeleteTopicsRequest()
        request.timeoutMs = requestTimeoutMs
        request.topicNames = names
        request.topics = names.map { .init(name: $0) }
        let response = try await cluster.withAnyBroker { try await $0.send(request) }
        for topic in response.responses {
            try KafkaClientError.check(topic.errorCode, "DeleteTopics \(topic.name ?? "?")\(topic.errorMessage.map { ": \($0)" } ?? "")")
        }
    }

    /// Topic names, sorted; internal topics (`__consumer_offsets`) only when asked.
    public func listTopics(includeInternal: Bool = false) async throws -> [String] {
        let metadata = try await cluster.refreshMetadata(topics: nil)
        return metadata.topics.values.filter { includeInternal || !$0.isInternal }.map(\.name).sorted()
    }

    /// Partitions, leaders and replicas of each topic; throws for a topic that does not exist.
    public func describeTopics(_ names: [String]) async throws -> [ClusterMetadata.Topic] {
        let metadata = try await cluster.refreshMetadata(topics: names)
        return try names.map { name in
            guard let topic = metadata.topics[name] else { throw KafkaClientError.unknownTopic(name) }
            return topic
        }
    }

    /// Raises the partition count of `topic` to `total`.
    public func createPartitions(_ topic: String, total: Int32) async throws {
        var request = CreatePartitionsRequest()
        request.timeoutMs = requestTimeoutMs
        request.topics = [.init(name: topic, count: total, assignments: nil)]
        let response = try await cluster.withAnyBroker { try await $0.send(request) }
        for result in response.results {
            try KafkaClientError.check(result.errorCode, "CreatePartitions \(result.name)\(result.errorMessage.map { ": \($0)" } ?? "")")
        }
    }

    // MARK: Configs

    public struct ConfigEntry: Sendable, Equatable {
        public var name: String
        public var value: String?
        public var isDefault: Bool
        public var isReadOnly: Bool
        public var isSensitive: Bool
    }

    public enum ResourceType: Int8, Sendable {
        case topic = 2
        case broker = 4
    }

    /// Every config of a topic (or broker, by id), with its value and whether it is a default.
    public func describeConfigs(_ type: ResourceType, _ name: String) async throws -> [ConfigEntry] {
        var request = DescribeConfigsRequest()
        request.resources = [.init(resourceType: type.rawValue, resourceName: name, configurationKeys: nil)]
        let response = try await cluster.withAnyBroker { try await $0.send(request) }
        guard let result = response.results.first else { return [] }
        try KafkaClientError.check(result.errorCode, "DescribeConfigs \(name)\(result.errorMessage.map { ": \($0)" } ?? "")")
        // Config source 5 is DEFAULT_CONFIG; 4 (STATIC_BROKER_CONFIG) is a broker-wide setting.
        return result.configs.map {
            ConfigEntry(name: $0.name, value: $0.value, isDefault: $0.configSource == 5 || $0.configSource == 4,
                        isReadOnly: $0.readOnly, isSensitive: $0.isSensitive)
        }.sorted { $0.name < $1.name }
    }

    /// Sets and removes configs of a topic (IncrementalAlterConfigs: SET and DELETE).
    public func alterConfigs(_ type: ResourceType, _ name: String, set: [String: String], delete: [String] = []) async throws {
        var request = IncrementalAlterConfigsRequest()
        let operations = set.sorted { $0.key < $1.key }.map { IncrementalAlterConfigsRequest.AlterableConfig(name: $0.key, configOperation: 0, value: $0.value) }
            + delete.map { .init(name: $0, configOperation: 1, value: nil) }
        request.resources = [.init(resourceType: type.rawValue, resourceName: name, configs: operations)]
        let response = try await cluster.withAnyBroker { try await $0.send(request) }
        for result in response.responses {
            try KafkaClientError.check(result.errorCode, "IncrementalAlterConfigs \(result.resourceName)\(result.errorMessage.map { ": \($0)" } ?? "")")
        }
    }

    // MARK: Offsets

    /// The earliest and latest offsets (`OffsetLookup.earliest`/`.latest`) or the offset for a
    /// timestamp, per partition.
    public func listOffsets(_ query: [TopicPartition: Int64]) async throws -> [TopicPartition: OffsetLookup.Found] {
        try await OffsetLookup.offsets(query, cluster: cluster)
    }

    // MARK: Consumer groups

    public struct GroupListing: Sendable, Equatable {
        public var groupId: String
        public var protocolType: String
        public var state: String
    }

    public func listGroups() async throws -> [GroupListing] {
        let metadata = try await cluster.refreshMetadata(topics: [])
        var listings: [GroupListing] = []
        for node in metadata.brokers.keys.sorted() {
            let response = try await cluster.connection(toNode: node).send(ListGroupsRequest())
            try KafkaClientError.check(response.errorCode, "ListGroups")
            listings += response.groups.map { GroupListing(groupId: $0.groupId, protocolType: $0.protocolType, state: $0.groupState) }
        }
        return listings.sorted { $0.groupId < $1.groupId }
    }

    public struct GroupMember: Sendable, Equatable {
        public var memberId: String
        public var groupInstanceId: String?
        public var clientId: String
        public var clientHost: String
        public var assignment: [TopicPartition]
    }

    public struct GroupDescription: Sendable, Equatable {
        public var groupId: String
        public var state: String
        public var protocolType: String
        public var assignor: String
        public var members: [GroupMember]
    }

    public func describeGroup(_ groupId: String) async throws -> GroupDescription {
        var request = DescribeGroupsRequest()
        request.groups = [groupId]
        let response = try await cluster.coordinatorConnection(group: groupId).send(request)
        guard let group = response.groups.first else { throw KafkaClientError.malformedResponse(nil, "DescribeGroups answered no group") }
        try KafkaClientError.check(group.errorCode, "DescribeGroups \(groupId)")
        let members = group.members.map { member -> GroupMember in
            var bytes = member.memberAssignment
            var partitions: [TopicPartition] = []
            if group.protocolType == "consumer", let version = bytes.readInteger(as: Int16.self),
               let assignment = try? ConsumerProtocolAssignment(from: &bytes, version: min(version, 3)) {
                partitions = assignment.assignedPartitions.flatMap { topic in topic.partitions.map { TopicPartition(topic: topic.topic, partition: $0) } }
            }
            return GroupMember(memberId: member.memberId, groupInstanceId: member.groupInstanceId, clientId: member.clientId,
                               clientHost: member.clientHost, assignment: partitions.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) })
        }
        return GroupDescription(groupId: group.groupId, state: group.groupState, protocolType: group.protocolType,
                                assignor: group.protocolData, members: members)
    }

    public func deleteGroups(_ groupIds: [String]) async throws {
        for groupId in groupIds {
            var request = DeleteGroupsRequest()
            request.groupsNames = [groupId]
            let response = try await cluster.coordinatorConnection(group: groupId).send(request)
            for result in response.results { try KafkaClientError.check(result.errorCode, "DeleteGroups \(result.groupId)") }
        }
    }

    /// The group's committed offsets: for the given partitions, or for every partition it has
    /// committed when nil.
    public func groupOffsets(_ groupId: String, partitions: [TopicPartition]? = nil) async throws -> [TopicPartition: Int64] {
        try await GroupOffsets.fetch(group: groupId, partitions: partitions, cluster: cluster)
    }

    /// Overwrites committed offsets of a group that has no active members, as Kafka's
    /// `alterConsumerGroupOffsets` does (an OffsetCommit outside any generation).
    public func alterGroupOffsets(_ groupId: String, _ offsets: [TopicPartition: Int64]) async throws {
        try await GroupOffsets.commit(offsets, group: groupId, generation: -1, memberId: "", instanceId: nil, cluster: cluster)
    }
}
