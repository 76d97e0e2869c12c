import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RunnelProtocol

/// The client's view of a cluster and its connections: one connection per broker, shared by
/// everything this client does (requests are pipelined on it), metadata refreshed on demand, and
/// group coordinators found and remembered. Producer, Consumer and Admin each own one.
public final class KafkaCluster: Sendable {
    public let configuration: ClientConfiguration
    let group: any EventLoopGroup
    private let state = NIOLockedValueBox(State())

    private struct State {
        var metadata = ClusterMetadata()
        var metadataAge = NIODeadline.distantPast
        var connecting: [BrokerAddress: Task<BrokerConnection, any Error>] = [:]
        var coordinators: [String: Int32] = [:]
        var closed = false
    }

    public init(configuration: ClientConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.group = group
    }

    /// The last metadata fetched, without asking the cluster.
    public var metadata: ClusterMetadata { state.withLockedValue { $0.metadata } }

    /// Asks a broker for the metadata of `topics` (all topics when nil) and remembers it.
    /// `allowAutoCreation` lets a broker with `auto.create.topics.enable` create missing ones.
    @discardableResult
    public func refreshMetadata(topics: [String]?, allowAutoCreation: Bool = false) async throws -> ClusterMetadata {
        var request = MetadataRequest()
        request.topics = topics.map { $0.map { MetadataRequest.MetadataRequestTopic(name: $0) } }
        request.allowAutoTopicCreation = allowAutoCreation
        let response = try await withAnyBroker { try await $0.send(request) }
        let fresh = ClusterMetadata(response)
        return state.withLockedValue { state in
            state.metadata.merge(fresh, requested: topics)
            state.metadataAge = .now()
            return state.metadata
        }
    }

    /// Metadata that knows every topic in `topics`, refreshed when a topic is missing or the
    /// metadata has aged past `metadata.max.age.ms`. Throws `unknownTopic` for a topic the
    /// cluster does not have.
    public func metadata(covering topics: [String]) async throws -> ClusterMetadata {
        let (known, fresh) = state.withLockedValue { state in
            (topics.allSatisfy { state.metadata.topics[$0] != nil },
             state.metadataAge + configuration.metadataMaxAge > .now())
        }
        if known && fresh { return metadata }
        // A topic just created may not have reached every broker's metadata yet (a cluster
        // applies it broker by broker): it is asked again for a moment before it counts as
        // missing (librdkafka waits for `topic.metadata.propagation.max.ms` likewise).
        let deadline = ContinuousClock.now + Self.topicPropagationWindow
        while true {
            let refreshed = try await refreshMetadata(topics: topics)
            guard let missing = topics.first(where: { refreshed.topics[$0] == nil }) else { return refreshed }
            if ContinuousClock.now >= deadline { throw KafkaClientError.unknownTopic(missing) }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// How long a topic missing from the metadata is asked for again before it is unknown.
    static let topicPropagationWindow = Duration.seconds(2)

    /// The connection to broker `nodeId`, opened on first use.
    public func connection(toNode nodeId: Int32) async throws -> BrokerConnection {
        guard let address = state.withLockedValue({ $0.metadata.brokers[nodeId] }) else {
            try await refreshMetadata(topics: [])
            guard let address = state.withLockedValue({ $0.metadata.brokers[nodeId] }) else {
                throw KafkaClientError.broker(.leaderNotAvailable, "broker \(nodeId) is not in the cluster's metadata")
            }
            return try await connection(to: address)
        }
        return try await connection(to: address)
    }

    /// The connection to `address`; concurrent callers share one connect.
    public func connection(to address: BrokerAddress) async throws -> BrokerConnection {
        let task: Task<BrokerConnection, any Error> = try state.withLockedValue { state in
            if state.closed { throw KafkaClientError.closed }
            if let existing = state.connecting[address] { return existing }
            let configuration = self.configuration
            let group = self.group
            let task = Task {
                try await BrokerConnection.connect(
                    to: address, clientId: configuration.clientId, requestTimeout: configuration.requestTimeout,
                    connectTimeout: configuration.connectTimeout, group: group)
            }
            state.connecting[address] = task
            return task
        }
        do {
            let connection = try await task.value
            if connection.isActive { return connection }
            forget(address, task: task)
            return try await self.connection(to: address)
        } catch {
            forget(address, task: task)
            throw error
        }
    }

    private func forget(_ address: BrokerAddress, task: Task<BrokerConnection, any Error>) {
        state.withLockedValue { state in
            if state.connecting[address] == task { state.connecting[address] = nil }
        }
    }

    /// Runs `body` on a connection to any broker: known brokers first, then the bootstrap list.
    public func withAnyBroker<T: Sendable>(_ body: (BrokerConnection) async throws -> T) async throws -> T {
        let known = state.withLockedValue { Array($0.metadata.brokers.values) }
        var lastError: (any Error)?
        for address in known + configuration.bootstrapServers {
            let connection: BrokerConnection
            do {
                connection = try await self.connection(to: address)
            } catch {
                lastError = error
                continue
            }
            return try await body(connection)
        }
        let tried = known + configuration.bootstrapServers
        if tried.count == 1, let lastError { throw lastError }
        throw KafkaClientError.noBrokerReachable(tried)
    }

    /// The connection to the leader of `topic`-`partition`.
    public func leaderConnection(topic: String, partition: Int32) async throws -> BrokerConnection {
        var metadata = try await metadata(covering: [topic])
        if metadata.leader(of: topic, partition: partition) == nil {
            metadata = try await refreshMetadata(topics: [topic])
        }
        guard let count = metadata.partitionCount(of: topic) else { throw KafkaClientError.unknownTopic(topic) }
        guard partition >= 0, partition < count else { throw KafkaClientError.unknownPartition(topic, partition) }
        guard let leader = metadata.leader(of: topic, partition: partition) else {
            throw KafkaClientError.broker(.leaderNotAvailable, "\(topic)-\(partition)")
        }
        return try await connection(toNode: leader)
    }

    /// The connection to the coordinator of consumer group `groupId` (FindCoordinator, cached
    /// until `forgetCoordinator`).
    public func coordinatorConnection(group groupId: String) async throws -> BrokerConnection {
        if let node = state.withLockedValue({ $0.coordinators[groupId] }) {
            return try await connection(toNode: node)
        }
        var request = FindCoordinatorRequest()
        request.key = groupId
        request.keyType = 0
        let response = try await withAnyBroker { try await $0.send(request) }
        try KafkaClientError.check(response.errorCode, "FindCoordinator \(groupId)")
        let address = BrokerAddress(host: response.host, port: Int(response.port))
        state.withLockedValue { state in
            state.coordinators[groupId] = response.nodeId
            if state.metadata.brokers[response.nodeId] == nil { state.metadata.brokers[response.nodeId] = address }
        }
        return try await connection(to: address)
    }

    /// Drops the cached coordinator after NOT_COORDINATOR or a lost connection.
    public func forgetCoordinator(group groupId: String) {
        _ = state.withLockedValue { $0.coordinators.removeValue(forKey: groupId) }
    }

    /// Closes every connection; later calls throw `.closed`.
    public func close() async {
        let tasks = state.withLockedValue { state in
            state.closed = true
            defer { state.connecting.removeAll() }
            return Array(state.connecting.values)
        }
        for task in tasks {
            if let connection = try? await task.value { await connection.close() }
        }
    }
}
