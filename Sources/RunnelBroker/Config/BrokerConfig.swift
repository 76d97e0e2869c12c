import Foundation

/// Broker settings, with Kafka's `server.properties` key names and defaults.
public struct BrokerConfig: Sendable, Equatable {
    public var nodeId: Int32 = 1
    public var listenHost = "127.0.0.1"
    public var listenPort = 9092
    /// What Metadata tells clients to connect to; defaults to the listener.
    public var advertisedHost: String?
    public var advertisedPort: Int?
    public var logDirs: [String] = ["runnel-data"]
    public var numPartitions: Int32 = 1
    public var defaultReplicationFactor: Int16 = 1
    public var autoCreateTopics = true
    public var deleteTopicEnable = true
    public var socketRequestMaxBytes = 100 * 1024 * 1024
    public var messageMaxBytes = 1_048_588
    public var logRetentionMs: Int64 = 168 * 60 * 60 * 1000
    public var logRetentionBytes: Int64 = -1
    public var logSegmentBytes = 1024 * 1024 * 1024
    public var logRollMs: Int64 = 168 * 60 * 60 * 1000
    public var logIndexIntervalBytes = 4096
    public var logIndexSizeMaxBytes = 10 * 1024 * 1024
    public var logFlushIntervalMessages = Int64.max
    public var logFlushIntervalMs = Int64.max
    public var logRetentionCheckIntervalMs: Int64 = 300_000
    public var compressionType = "producer"
    public var logMessageTimestampType = "CreateTime"
    public var minInsyncReplicas: Int32 = 1
    public var offsetsTopicNumPartitions: Int32 = 50
    public var groupInitialRebalanceDelayMs: Int64 = 3000
    public var offsetsRetentionMinutes: Int64 = 7 * 24 * 60
    /// KIP-848 consumer-protocol members: session timeout and the heartbeat interval they are told.
    public var groupConsumerSessionTimeoutMs: Int64 = 45_000
    public var groupConsumerHeartbeatIntervalMs: Int64 = 5_000
    /// How often expired offsets are removed and `__consumer_offsets` partitions snapshotted.
    public var offsetsRetentionCheckIntervalMs: Int64 = 600_000

    public init() {}

    public var advertised: (host: String, port: Int) {
        (advertisedHost ?? listenHost, advertisedPort ?? listenPort)
    }

    /// Applies `key=value` settings (a server.properties file, or `--override` flags).
    /// Unknown keys are reported, not silently ignored.
    public mutating func apply(_ properties: [(key: String, value: String)]) throws {
        for (key, value) in properties { try apply(key: key, value: value) }
    }

    public mutating func apply(key: String, value: String) throws {
        func int<T: FixedWidthInteger>(_: T.Type = T.self) throws -> T {
            guard let number = T(value.trimmingCharacters(in: .whitespaces)) else {
                throw BrokerConfigError("\(key): '\(value)' is not a valid \(T.self)")
            }
            return number
        }
        func bool() throws -> Bool {
            switch value.lowercased() {
            case "true": return true
            case "false": return false
            default: throw BrokerConfigError("\(key): '\(value)' is not true or false")
            }
        }
        switch key {
        case "node.id", "broker.id": nodeId = try int()
        case "listeners": (listenHost, listenPort) = try Self.parseListener(value, key: key)
        case "advertised.listeners":
            let (host, port) = try Self.parseListener(value, key: key)
            advertisedHost = host
            advertisedPort = port
        case "log.dirs", "log.dir": logDirs = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        case "num.partitions": numPartitions = try int()
        case "default.replication.factor": defaultReplicationFactor = try int()
        case "auto.create.topics.enable": autoCreateTopics = try bool()
        case "delete.topic.enable": deleteTopicEnable = try bool()
        case "socket.request.max.bytes": socketRequestMaxBytes = try int()
        case "message.max.bytes": messageMaxBytes = try int()
        case "log.retention.ms": logRetentionMs = try int()
        case "log.retention.minutes": logRetentionMs = try int(Int64.self) * 60_000
        case "log.retention.hours": logRetentionMs = try int(Int64.self) * 3_600_000
        case "log.retention.bytes": logRetentionBytes = try int()
        case "log.segment.bytes": logSegmentBytes = try int()
        case "log.roll.ms": logRollMs = try int()
        case "log.roll.hours": logRollMs = try int(Int64.self) * 3_600_000
        case "log.index.interval.bytes": logIndexIntervalBytes = try int()
        case "log.index.size.max.bytes": logIndexSizeMaxBytes = try int()
        case "log.flush.interval.messages": logFlushIntervalMessages = try int()
        case "log.flush.interval.ms": logFlushIntervalMs = try int()
        case "log.retention.check.interval.ms": logRetentionCheckIntervalMs = try int()
        case "compression.type": compressionType = value
        case "log.message.timestamp.type": logMessageTimestampType = value
        case "min.insync.replicas": minInsyncReplicas = try int()
        case "offsets.topic.num.partitions": offsetsTopicNumPartitions = try int()
        case "group.initial.rebalance.delay.ms": groupInitialRebalanceDelayMs = try int()
        case "offsets.retention.minutes": offsetsRetentionMinutes = try int()
        case "group.consumer.session.timeout.ms": groupConsumerSessionTimeoutMs = try int()
        case "group.consumer.heartbeat.interval.ms": groupConsumerHeartbeatIntervalMs = try int()
        case "offsets.retention.check.interval.ms": offsetsRetentionCheckIntervalMs = try int()
        // Settings a single Runnel node accepts but does not need (KRaft roles and quorum,
        // thread counts, buffer sizes): taking them lets a Kafka server.properties run as is.
        case "process.roles", "controller.quorum.voters", "controller.quorum.bootstrap.servers",
             "controller.listener.names", "inter.broker.listener.name", "listener.security.protocol.map",
             "num.network.threads", "num.io.threads", "socket.send.buffer.bytes", "socket.receive.buffer.bytes",
             "num.recovery.threads.per.data.dir", "offsets.topic.replication.factor",
             "transaction.state.log.replication.factor", "transaction.state.log.min.isr", "share.coordinator.state.topic.replication.factor",
             "share.coordinator.state.topic.min.isr", "log.cleaner.enable", "zookeeper.connect":
            break
        default:
            throw BrokerConfigError("unknown broker setting '\(key)'")
        }
    }

    /// `PLAINTEXT://host:port` (the first listener, if several are given).
    static func parseListener(_ value: String, key: String) throws -> (String, Int) {
        let first = value.split(separator: ",").first.map(String.init) ?? value
        let address = first.components(separatedBy: "://").last ?? first
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
              (0...65535).contains(port)
        else { throw BrokerConfigError("\(key): '\(value)' is not NAME://host:port") }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    /// Parses a Java-style properties file: `key=value` or `key: value`, `#`/`!` comments.
    public static func parseProperties(_ text: String) -> [(key: String, value: String)] {
        text.split(whereSeparator: \.isNewline).compactMap { rawLine in
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#"), !line.hasPrefix("!"),
                  let separator = line.firstIndex(where: { $0 == "=" || $0 == ":" })
            else { return nil }
            let key = line[..<separator].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: separator)...].trimmingCharacters(in: .whitespaces)
            return (key, value)
        }
    }
}

public struct BrokerConfigError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
