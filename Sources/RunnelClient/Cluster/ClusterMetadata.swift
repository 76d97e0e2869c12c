import RunnelProtocol

/// What the client knows of the cluster from its last Metadata response: brokers, and for each
/// topic its partitions and their leaders. A value; `KafkaCluster` swaps it whole on refresh.
public struct ClusterMetadata: Sendable {
    public struct Partition: Sendable, Equatable {
        public var index: Int32
        /// -1 when the partition has no leader right now.
        public var leader: Int32
        public var leaderEpoch: Int32
        public var replicas: [Int32]
        public var isr: [Int32]
        public var errorCode: Int16
    }

    public struct Topic: Sendable {
        public var name: String
        public var topicId: KafkaUUID
        public var isInternal: Bool
        /// Indexed by partition number.
        public var partitions: [Partition]
    }

    public var clusterId: String?
    public var controllerId: Int32 = -1
    public var brokers: [Int32: BrokerAddress] = [:]
    public var topics: [String: Topic] = [:]

    public init() {}

    init(_ response: MetadataResponse) {
        clusterId = response.clusterId
        controllerId = response.controllerId
        for broker in response.brokers {
            brokers[broker.nodeId] = BrokerAddress(host: broker.host, port: Int(broker.port))
        }
        for topic in response.topics {
            guard let name = topic.name, topic.errorCode == 0 else { continue }
            let partitions = topic.partitions.sorted { $0.partitionIndex < $1.partitionIndex }.map {
                Partition(index: $0.partitionIndex, leader: $0.leaderId, leaderEpoch: $0.leaderEpoch,
                          replicas: $0.replicaNodes, isr: $0.isrNodes, errorCode: $0.errorCode)
            }
            topics[name] = Topic(name: name, topicId: topic.topicId, isInternal: topic.isInternal, partitions: partitions)
        }
    }

    /// Merges a response about some topics into what is known of the others.
    mutating func merge(_ other: ClusterMetadata, requested: [String]?) {
        clusterId = other.clusterId ?? clusterId
        controllerId = other.controllerId
        brokers = other.brokers
        if let requested {
            for name in requested { topics[name] = other.topics[name] }
        } else {
            topics = other.topics
        }
    }

    public func leader(of topic: String, partition: Int32) -> Int32? {
        guard let partitions = topics[topic]?.partitions, partition >= 0, Int(partition) < partitions.count else { return nil }
        let leader = partitions[Int(partition)].leader
        return leader >= 0 ? leader : nil
    }

    public func partitionCount(of topic: String) -> Int? { topics[topic]?.partitions.count }
}
