/// The consumer-group configs of KIP-848 (Kafka 4's `GroupConfig`) Runnel supports, with
/// Kafka's names, broker defaults and bounds: a group may override the session timeout and
/// the heartbeat interval of its consumer-protocol members, within the broker's
/// `group.consumer.min/max.*` limits. Kafka's share-group and streams-group keys are unknown
/// here (Runnel has neither kind of group) and refused as such.
public struct GroupConfigSchema: Sendable {
    public struct Entry: Sendable {
        public var name: String
        /// The broker setting that provides the default, as Kafka names it.
        public var brokerSynonym: String
        public var documentation: String
        var defaultValue: @Sendable (BrokerConfig) -> Int64
        /// The broker settings that bound it: their names and values.
        var bounds: @Sendable (BrokerConfig) -> (minName: String, min: Int64, maxName: String, max: Int64)
    }

    public static let sessionTimeout = "consumer.session.timeout.ms"
    public static let heartbeatInterval = "consumer.heartbeat.interval.ms"

    public let broker: BrokerConfig
    public let entries: [Entry] = Self.definitions

    public init(broker: BrokerConfig) { self.broker = broker }

    public func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

    /// Why these overrides are invalid, or nil if they are fine (Kafka's `GroupConfig.validate`).
    public func validate(_ overrides: [String: String]) -> String? {
        for (name, value) in overrides.sorted(by: { $0.key < $1.key }) {
            guard let entry = entry(named: name) else { return "Unknown group config name: \(name)" }
            guard let number = Int32(value).map(Int64.init) else {
                return "Invalid value \(value) for configuration \(name): Not a number of type INT"
            }
            let bounds = entry.bounds(broker)
            if number < bounds.min { return "\(name) must be greater than or equal to \(bounds.minName) (\(bounds.min))" }
            if number > bounds.max { return "\(name) must be less than or equal to \(bounds.maxName) (\(bounds.max))" }
        }
        if heartbeatIntervalMs(overrides) >= sessionTimeoutMs(overrides) {
            return "\(Self.heartbeatInterval) must be less than \(Self.sessionTimeout)"
        }
        return nil
    }

    /// Every config's effective value and whether it is the group's own.
    public func effective(_ overrides: [String: String]) -> [(entry: Entry, value: String, isOverride: Bool)] {
        entries.map { entry in
            if let value = overrides[entry.name] { return (entry, value, true) }
            return (entry, String(entry.defaultValue(broker)), false)
        }
    }

    public func sessionTimeoutMs(_ overrides: [String: String]) -> Int64 { value(Self.sessionTimeout, overrides) }
    public func heartbeatIntervalMs(_ overrides: [String: String]) -> Int64 { value(Self.heartbeatInterval, overrides) }

    private func value(_ name: String, _ overrides: [String: String]) -> Int64 {
        overrides[name].flatMap { Int64($0) } ?? entry(named: name)!.defaultValue(broker)
    }

    static let definitions: [Entry] = [
        Entry(
            name: sessionTimeout, brokerSynonym: "group.consumer.session.timeout.ms",
            documentation: "The timeout to detect client failures when using the consumer group protocol.",
            defaultValue: { $0.groupConsumerSessionTimeoutMs },
            bounds: {
                ("group.consumer.min.session.timeout.ms", $0.groupConsumerMinSessionTimeoutMs,
                 "group.consumer.max.session.timeout.ms", $0.groupConsumerMaxSessionTimeoutMs)
            }),
        Entry(
            name: heartbeatInterval, brokerSynonym: "group.consumer.heartbeat.interval.ms",
            documentation: "The heartbeat interval given to the members of a consumer group.",
            defaultValue: { $0.groupConsumerHeartbeatIntervalMs },
            bounds: {
                ("group.consumer.min.heartbeat.interval.ms", $0.groupConsumerMinHeartbeatIntervalMs,
                 "group.consumer.max.heartbeat.interval.ms", $0.groupConsumerMaxHeartbeatIntervalMs)
            }),
    ]
}
