import RunnelProtocol

/// What the cluster knows about a topic: its id, partitions and configuration overrides.
public struct TopicMetadata: Codable, Sendable, Equatable {
    public var name: String
    /// A random UUID given at creation (KIP-516); Metadata v10+ returns it.
    public var id: KafkaUUID
    public var partitionCount: Int32
    public var replicationFactor: Int16
    /// Topic-level config overrides by Kafka name (`retention.ms`, ...); broker defaults apply otherwise.
    public var configs: [String: String]
    /// Internal topics (`__consumer_offsets`) are hidden from some listings and cannot be deleted.
    public var isInternal: Bool

    public init(
        name: String, id: KafkaUUID, partitionCount: Int32, replicationFactor: Int16, configs: [String: String] = [:],
        isInternal: Bool = false
    ) {
        self.name = name
        self.id = id
        self.partitionCount = partitionCount
        self.replicationFactor = replicationFactor
        self.configs = configs
        self.isInternal = isInternal
    }

    /// Kafka's rule for topic names: 1-249 characters of [a-zA-Z0-9._-], not "." or "..".
    public static func validate(name: String) -> String? {
        if name.isEmpty { return "topic name is empty" }
        if name == "." || name == ".." { return "topic name cannot be \".\" or \"..\"" }
        if name.utf8.count > 249 { return "topic name is longer than 249 characters" }
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39)
                || byte == 0x2E || byte == 0x5F || byte == 0x2D
        }
        return allowed ? nil : "topic name \(name) contains characters other than ASCII alphanumerics, '.', '_' and '-'"
    }
}

extension KafkaUUID: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = KafkaUUID(string: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a UUID: \(text)"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
