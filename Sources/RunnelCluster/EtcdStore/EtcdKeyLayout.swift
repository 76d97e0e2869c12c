import RunnelProtocol

/// Where each fact of the cluster lives in etcd, under one prefix (default `/runnel`):
///
///     <prefix>/cluster-id                      the cluster id (22 characters), written once
///     <prefix>/brokers/<id>                    BrokerRegistration JSON, under the broker's lease
///     <prefix>/controller                      {"brokerId": N}, under the controller's lease
///     <prefix>/topics/<name>                   TopicMetadata JSON
///     <prefix>/partitions/<topic id>/<index>   PartitionState JSON (the key every leader/ISR change CASes)
///     <prefix>/producer-ids                    {"next": N}
///     <prefix>/group-configs/<group id>        a consumer group's config overrides, JSON {key: value}
///
/// Partition keys are named by topic id, so a topic deleted and created again under the same
/// name never meets its predecessor's partition states.
struct EtcdKeyLayout: Sendable {
    let prefix: String

    init(prefix: String) {
        var trimmed = prefix
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.prefix = trimmed.isEmpty ? "/runnel" : trimmed
    }

    var root: String { prefix + "/" }
    var clusterId: String { prefix + "/cluster-id" }
    var controller: String { prefix + "/controller" }
    var producerIds: String { prefix + "/producer-ids" }
    var brokers: String { prefix + "/brokers/" }
    var topics: String { prefix + "/topics/" }
    var partitions: String { prefix + "/partitions/" }
    var groupConfigs: String { prefix + "/group-configs/" }

    func broker(_ id: Int32) -> String { brokers + String(id) }
    func topic(_ name: String) -> String { topics + name }
    func partitions(of topicId: KafkaUUID) -> String { partitions + topicId.description + "/" }
    func partition(_ topicId: KafkaUUID, _ index: Int32) -> String { partitions(of: topicId) + String(index) }
    /// A group id may hold any character, "/" included: everything after the prefix is the id.
    func groupConfigs(_ groupId: String) -> String { groupConfigs + groupId }

    /// What a key of the layout names.
    enum Entry: Equatable {
        case clusterId, controller, producerIds
        case broker(Int32)
        case topic(String)
        case partition(topicId: KafkaUUID, index: Int32)
        case groupConfigs(String)
        case unknown
    }

    func entry(_ key: String) -> Entry {
        guard key.hasPrefix(root) else { return .unknown }
        let rest = key.dropFirst(root.count)
        switch rest {
        case "cluster-id": return .clusterId
        case "controller": return .controller
        case "producer-ids": return .producerIds
        default: break
        }
        if rest.hasPrefix("group-configs/") { return .groupConfigs(String(rest.dropFirst("group-configs/".count))) }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
        switch (parts.first, parts.count) {
        case ("brokers", 2): return Int32(parts[1]).map { .broker($0) } ?? .unknown
        case ("topics", 2): return .topic(String(parts[1]))
        case ("partitions", 3):
            guard let id = KafkaUUID(string: String(parts[1])), let index = Int32(parts[2]) else { return .unknown }
            return .partition(topicId: id, index: index)
        default: return .unknown
        }
    }
}

/// The controller key's value.
struct ControllerRecord: Codable, Equatable {
    var brokerId: Int32
}

/// The producer-id counter's value.
struct ProducerIdRecord: Codable, Equatable {
    var next: Int64
}
