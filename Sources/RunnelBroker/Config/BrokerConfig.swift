import Foundation
import RunnelStorage

/// Broker settings, with Kafka's `server.properties` key names and defaults.
public struct BrokerConfig: Sendable, Equatable {
    public var nodeId: Int32 = 1
    public var listenHost = "127.0.0.1"
    public var listenPort = 9092
    /// The names of every listener in `listeners` (the broker serves the first), and
    /// `advertised.listeners`' name: each must map to PLAINTEXT, the only security protocol
    /// served so far (`validate()`).
    public var listenerNames = ["PLAINTEXT"]
    public var advertisedListenerName: String?
    /// `listener.security.protocol.map`: listener name to security protocol.
    public var listenerSecurityProtocolMap: [String: String] = [:]
    /// `controller.listener.names`: in a Kafka KRaft config, listeners that default to PLAINTEXT.
    public var controllerListenerNames: [String] = []
    /// What Metadata tells clients to connect to; defaults to the listener.
    public var advertisedHost: String?
    public var advertisedPort: Int?
    public var logDirs: [String] = ["runnel-data"]
    /// `metrics.listen`: where `/metrics`, `/healthz` and `/readyz` are served (HTTP); nil
    /// for none. `runnel broker` turns it on at `defaultMetricsListen` unless told otherwise.
    public var metricsListen: HostPort?
    public static let defaultMetricsListen = HostPort(host: "127.0.0.1", port: 9644)
    /// Every key set (file, then flags), with its value as given, last one winning: the
    /// start-up log shows them.
    public private(set) var explicitSettings: [String: String] = [:]
    /// Keys accepted only so that a Kafka `server.properties` runs as is, which do nothing
    /// here: the broker warns about each at start-up.
    public private(set) var ignoredSettings: [String] = []
    /// Keys no setting has (a misspelling, or a Kafka setting not on Runnel's list): ignored,
    /// with a warning at start-up.
    public private(set) var unknownSettings: [String] = []
    public var numPartitions: Int32 = 1
    public var defaultReplicationFactor: Int16 = 1
    public var autoCreateTopics = true
    public var deleteTopicEnable = true
    public var socketRequestMaxBytes = 100 * 1024 * 1024
    public var messageMaxBytes = 1_048_588
    /// The most record bytes a fetch response carries, whatever the request asks (Kafka's
    /// `fetch.max.bytes`, 55 MiB); the first batch of a response is whole even if larger (KIP-74).
    public var fetchMaxBytes = 57_671_680
    /// Request bytes the broker holds at once across all connections, counted from each
    /// frame's size prefix until the request has been processed; past it, connections stop
    /// being read (back-pressure) until memory is released. Kafka's default is -1 (unbounded);
    /// ours is bounded so that stalled or queued large requests cannot exhaust memory: 256 MiB
    /// lets two requests of the default `socket.request.max.bytes` (100 MiB) be in flight with
    /// room for many small ones, and the worst case, one request's overdraft, stays near 356 MiB.
    /// 0 or less means unbounded.
    public var queuedMaxRequestBytes: Int64 = 256 * 1024 * 1024
    /// A connection that neither sends nor receives for this long is closed; 0 or less never.
    public var connectionsMaxIdleMs: Int64 = 600_000
    /// Connections accepted at once, in total and from one IP address; new ones past either
    /// limit are closed at once.
    public var maxConnections = Int(Int32.max)
    public var maxConnectionsPerIp = Int(Int32.max)
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
    /// Replication (Kafka's names and defaults): a follower that has not caught up for
    /// `replica.lag.time.max.ms` leaves the ISR; followers long-poll their leader for
    /// `replica.fetch.wait.max.ms`, take at most `replica.fetch.max.bytes` per partition and
    /// `replica.fetch.response.max.bytes` per fetch, and wait `replica.fetch.backoff.ms` after an error.
    public var replicaLagTimeMaxMs: Int64 = 30_000
    public var replicaFetchWaitMaxMs: Int32 = 500
    public var replicaFetchMaxBytes: Int32 = 1_048_576
    public var replicaFetchResponseMaxBytes: Int32 = 10_485_760
    public var replicaFetchBackoffMs: Int64 = 1000
    public var offsetsTopicNumPartitions: Int32 = 50
    public var groupInitialRebalanceDelayMs: Int64 = 3000
    public var offsetsRetentionMinutes: Int64 = 7 * 24 * 60
    /// KIP-848 consumer-protocol members: session timeout and the heartbeat interval they are told.
    public var groupConsumerSessionTimeoutMs: Int64 = 45_000
    public var groupConsumerHeartbeatIntervalMs: Int64 = 5_000
    /// The bounds of a group's own `consumer.session.timeout.ms` / `consumer.heartbeat.interval.ms`.
    public var groupConsumerMinSessionTimeoutMs: Int64 = 45_000
    public var groupConsumerMaxSessionTimeoutMs: Int64 = 60_000
    public var groupConsumerMinHeartbeatIntervalMs: Int64 = 5_000
    public var groupConsumerMaxHeartbeatIntervalMs: Int64 = 15_000
    /// How often committed offsets past `offsets.retention.minutes` are removed (tombstones).
    public var offsetsRetentionCheckIntervalMs: Int64 = 600_000
    /// Idempotent-producer state of a producer whose latest batch is this old is dropped
    /// (Kafka's default: one day); how often that is checked.
    public var producerIdExpirationMs: Int64 = 86_400_000
    public var producerIdExpirationCheckIntervalMs: Int64 = 600_000
    /// `metadata.url`: where the cluster metadata lives. nil: the embedded single-broker store
    /// in the data directory; `etcd://host:port[,host:port...][/prefix]`: a cluster through etcd.
    public var metadataURL: String?
    /// How long this broker's etcd lease lives without renewal (Kafka's analogue is
    /// `broker.session.timeout.ms`): the bound on failure detection, and on how long a broker
    /// cut off from etcd keeps acting as leader. etcd counts whole seconds (rounded up).
    public var metadataLeaseTTLMs: Int64 = 2000
    /// `auto.leader.rebalance.enable`: the controller gives each partition back to its preferred
    /// replica once that is live and in sync again.
    public var autoLeaderRebalanceEnable = true
    /// `unclean.leader.election.enable`: topics' default (Kafka's: false).
    public var uncleanLeaderElectionEnable = false
    /// `broker.rack`, for rack-aware replica placement.
    public var brokerRack: String?
    /// `offsets.topic.replication.factor`: nil takes 1 on the embedded store and 3 in a
    /// cluster (Kafka's default), where `__consumer_offsets` is created once that many brokers are live.
    public var offsetsTopicReplicationFactor: Int16?
    /// Compaction: topics' defaults (`log.cleanup.policy`, `log.cleaner.*` topic synonyms) and
    /// the log cleaner's own settings (see CleanerConfig).
    public var logCleanupPolicy = "delete"
    public var logCleanerMinCleanableRatio = 0.5
    public var logCleanerMinCompactionLagMs: Int64 = 0
    public var logCleanerMaxCompactionLagMs = Int64.max
    public var logCleanerDeleteRetentionMs: Int64 = 86_400_000
    public var cleaner = CleanerConfig()

    public init() {}

    /// The effective `offsets.topic.replication.factor`.
    public var offsetsReplicationFactor: Int16 { offsetsTopicReplicationFactor ?? (metadataURL == nil ? 1 : 3) }

    /// The etcd lease TTL in whole seconds, at least 1.
    public var metadataLeaseTTLSeconds: Int64 { max(1, (metadataLeaseTTLMs + 999) / 1000) }

    public var advertised: (host: String, port: Int) {
        (advertisedHost ?? listenHost, advertisedPort ?? listenPort)
    }

    /// Applies `key=value` settings (a server.properties file, or `--override` flags). A key
    /// neither Runnel nor the Kafka list below knows is kept in `unknownSettings` (the broker
    /// warns about each at start-up, as Kafka does); a bad value of a known key throws.
    public mutating func apply(_ properties: [(key: String, value: String)]) throws {
        for (key, value) in properties { try apply(key: key, value: value) }
    }

    public mutating func apply(key: String, value: String) throws {
        try applyValue(key: key, value: value)
        explicitSettings[key] = value
    }

    private mutating func applyValue(key: String, value: String) throws {
        func int<T: FixedWidthInteger>(_: T.Type = T.self) throws -> T {
            guard let number = T(value.trimmingCharacters(in: .whitespaces)) else {
                throw BrokerConfigError("\(key): '\(value)' is not a valid \(T.self)")
            }
            return number
        }
        func positive(_ number: Int64) throws -> Int64 {
            guard number > 0 else { throw BrokerConfigError("\(key): '\(value)' must be at least 1") }
            return number
        }
        /// An int setting Kafka defines as a Java int with a lower bound.
        func int(_: Int32.Type, atLeast minimum: Int32) throws -> Int {
            let number: Int32 = try int()
            guard number >= minimum else { throw BrokerConfigError("\(key): \(number) is below the minimum \(minimum)") }
            return Int(number)
        }
        func int(_: Int64.Type, atLeast minimum: Int64) throws -> Int64 {
            let number: Int64 = try int()
            guard number >= minimum else { throw BrokerConfigError("\(key): \(number) is below the minimum \(minimum)") }
            return number
        }
        func double(in range: ClosedRange<Double>) throws -> Double {
            guard let number = Double(value.trimmingCharacters(in: .whitespaces)), range.contains(number) else {
                throw BrokerConfigError("\(key): '\(value)' is not a number between \(range.lowerBound) and \(range.upperBound)")
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
        case "listeners":
            let listeners = try Self.parseListeners(value, key: key)
            (listenHost, listenPort) = (listeners[0].host, listeners[0].port)
            listenerNames = listeners.map(\.name)
        case "advertised.listeners":
            let advertised = try Self.parseListeners(value, key: key)[0]
            advertisedHost = advertised.host
            advertisedPort = advertised.port
            advertisedListenerName = advertised.name
        case "listener.security.protocol.map":
            listenerSecurityProtocolMap = try Self.parseSecurityProtocolMap(value, key: key)
        case "controller.listener.names":
            controllerListenerNames = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        case "fetch.max.bytes":
            fetchMaxBytes = try int(Int32.self, atLeast: 1024)
        case "queued.max.request.bytes": queuedMaxRequestBytes = try int()
        case "connections.max.idle.ms": connectionsMaxIdleMs = try int()
        case "max.connections": maxConnections = try int(Int32.self, atLeast: 0)
        case "max.connections.per.ip": maxConnectionsPerIp = try int(Int32.self, atLeast: 0)
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
        case "offsets.topic.num.partitions": offsetsTopicNumPartitions = Int32(try int(Int32.self, atLeast: 1))
        case "group.initial.rebalance.delay.ms": groupInitialRebalanceDelayMs = try int()
        case "offsets.retention.minutes": offsetsRetentionMinutes = try int()
        case "group.consumer.session.timeout.ms": groupConsumerSessionTimeoutMs = try int()
        // An int in Kafka, and ConsumerGroupHeartbeat carries it as an int32.
        case "group.consumer.heartbeat.interval.ms": groupConsumerHeartbeatIntervalMs = Int64(try int(Int32.self, atLeast: 1))
        case "group.consumer.min.session.timeout.ms": groupConsumerMinSessionTimeoutMs = Int64(try int(Int32.self, atLeast: 1))
        case "group.consumer.max.session.timeout.ms": groupConsumerMaxSessionTimeoutMs = Int64(try int(Int32.self, atLeast: 1))
        case "group.consumer.min.heartbeat.interval.ms": groupConsumerMinHeartbeatIntervalMs = Int64(try int(Int32.self, atLeast: 1))
        case "group.consumer.max.heartbeat.interval.ms": groupConsumerMaxHeartbeatIntervalMs = Int64(try int(Int32.self, atLeast: 1))
        case "offsets.retention.check.interval.ms": offsetsRetentionCheckIntervalMs = try int()
        case "producer.id.expiration.ms": producerIdExpirationMs = try positive(int())
        case "producer.id.expiration.check.interval.ms": producerIdExpirationCheckIntervalMs = try positive(int())
        case "metadata.url":
            _ = try EtcdURL(value)
            metadataURL = value
        case "metadata.lease.ttl.ms": metadataLeaseTTLMs = try positive(int())
        case "broker.rack": brokerRack = value.isEmpty ? nil : value
        case "auto.leader.rebalance.enable": autoLeaderRebalanceEnable = try bool()
        case "unclean.leader.election.enable": uncleanLeaderElectionEnable = try bool()
        case "offsets.topic.replication.factor": offsetsTopicReplicationFactor = try int()
        case "log.cleanup.policy":
            guard CleanupPolicy(listing: value) != nil else { throw BrokerConfigError("\(key): '\(value)' is not a list of delete and compact") }
            logCleanupPolicy = value
        case "log.cleaner.min.cleanable.ratio": logCleanerMinCleanableRatio = try double(in: 0...1)
        case "log.cleaner.min.compaction.lag.ms": logCleanerMinCompactionLagMs = try int(Int64.self, atLeast: 0)
        case "log.cleaner.max.compaction.lag.ms": logCleanerMaxCompactionLagMs = try positive(int())
        case "log.cleaner.delete.retention.ms": logCleanerDeleteRetentionMs = try int(Int64.self, atLeast: 0)
        case "log.cleaner.enable": cleaner.enabled = try bool()
        case "log.cleaner.threads": cleaner.threads = try int(Int32.self, atLeast: 0)
        case "log.cleaner.dedupe.buffer.size": cleaner.dedupeBufferBytes = Int(try int(Int64.self, atLeast: 0))
        case "log.cleaner.io.buffer.load.factor": cleaner.loadFactor = try double(in: 0.01...1)
        case "log.cleaner.io.max.bytes.per.second": cleaner.maxIOBytesPerSecond = try double(in: 1...Double.greatestFiniteMagnitude)
        case "log.cleaner.backoff.ms": cleaner.backoffMs = try int(Int64.self, atLeast: 0)
        case "replica.lag.time.max.ms": replicaLagTimeMaxMs = try positive(int())
        case "replica.fetch.wait.max.ms": replicaFetchWaitMaxMs = Int32(try int(Int32.self, atLeast: 0))
        case "replica.fetch.max.bytes": replicaFetchMaxBytes = Int32(try int(Int32.self, atLeast: 1))
        case "replica.fetch.response.max.bytes": replicaFetchResponseMaxBytes = Int32(try int(Int32.self, atLeast: 1))
        case "replica.fetch.backoff.ms": replicaFetchBackoffMs = try positive(int())
        case "metrics.listen":
            let trimmed = value.trimmingCharacters(in: .whitespaces)
            guard trimmed.isEmpty || trimmed == "none" || HostPort(trimmed) != nil else {
                throw BrokerConfigError("\(key): '\(value)' is not HOST:PORT (or none)")
            }
            metricsListen = HostPort(trimmed)
        // Settings a single Runnel node accepts but does not need (KRaft roles and quorum,
        // thread counts, buffer sizes): taking them lets a Kafka server.properties run as is.
        case "process.roles", "controller.quorum.voters", "controller.quorum.bootstrap.servers",
             "inter.broker.listener.name",
             "num.network.threads", "num.io.threads", "socket.send.buffer.bytes", "socket.receive.buffer.bytes",
             "num.recovery.threads.per.data.dir",
             "transaction.state.log.replication.factor", "transaction.state.log.min.isr", "share.coordinator.state.topic.replication.factor",
             "share.coordinator.state.topic.min.isr", "zookeeper.connect":
            if !ignoredSettings.contains(key) { ignoredSettings.append(key) }
        default:
            if !unknownSettings.contains(key) { unknownSettings.append(key) }
        }
    }

    /// One entry of `listeners`: `NAME://host:port`; a bare `host:port` is named PLAINTEXT.
    public struct Listener: Sendable, Equatable {
        public var name: String
        public var host: String
        public var port: Int
    }

    /// `NAME://host:port[,NAME://host:port...]`, in order (the broker serves the first).
    static func parseListeners(_ value: String, key: String) throws -> [Listener] {
        let entries = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !entries.isEmpty else { throw BrokerConfigError("\(key): '\(value)' is not NAME://host:port") }
        return try entries.map { entry in
            let scheme = entry.range(of: "://")
            let name = scheme.map { String(entry[..<$0.lowerBound]) } ?? "PLAINTEXT"
            let address = scheme.map { String(entry[$0.upperBound...]) } ?? entry
            guard !name.isEmpty, let parsed = HostPort(address) else { throw BrokerConfigError("\(key): '\(value)' is not NAME://host:port") }
            return Listener(name: name.uppercased(), host: parsed.host, port: parsed.port)
        }
    }

    /// `NAME:PROTOCOL[,NAME:PROTOCOL...]`.
    static func parseSecurityProtocolMap(_ value: String, key: String) throws -> [String: String] {
        var map: [String: String] = [:]
        for entry in value.split(separator: ",") {
            let pair = entry.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces).uppercased() }
            guard pair.count == 2, !pair[0].isEmpty, !pair[1].isEmpty else {
                throw BrokerConfigError("\(key): '\(entry)' is not NAME:PROTOCOL")
            }
            map[pair[0]] = pair[1]
        }
        return map
    }

    /// The security protocols Kafka names; a listener named after one uses it unless mapped.
    static let securityProtocols: Set = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]

    /// A listener's security protocol: from `listener.security.protocol.map`, else its own name
    /// if that is a protocol, else PLAINTEXT for a controller listener (as Kafka's KRaft
    /// defaults do); nil if nothing says.
    func securityProtocol(ofListener name: String) -> String? {
        if let mapped = listenerSecurityProtocolMap[name] { return mapped }
        if Self.securityProtocols.contains(name) { return name }
        return controllerListenerNames.contains(name) ? "PLAINTEXT" : nil
    }

    /// Checks what only the whole configuration can tell (a key may refer to one that comes
    /// later in the file). The broker refuses to start with a configuration that fails.
    public func validate() throws {
        // Serving an SSL or SASL listener as plaintext would hand credentials and data to
        // anyone on the path while the operator believes them protected: refuse until supported.
        for name in listenerNames + [advertisedListenerName].compactMap({ $0 }) {
            guard let securityProtocol = securityProtocol(ofListener: name) else {
                throw BrokerConfigError("listener \(name) has no security protocol: add it to listener.security.protocol.map")
            }
            guard securityProtocol == "PLAINTEXT" else {
                throw BrokerConfigError(
                    "listener \(name) uses security protocol \(securityProtocol), which Runnel does not support yet; only PLAINTEXT listeners can be served")
            }
        }
        // Kafka's checks (KafkaConfig): each cleaner thread's map must hold more than 1 MiB, and
        // the topics' default lags must not contradict each other.
        if cleaner.runsCleaner, cleaner.dedupeBufferBytes / cleaner.threads <= 1024 * 1024 {
            throw BrokerConfigError(
                "log.cleaner.dedupe.buffer.size (\(cleaner.dedupeBufferBytes)) must give each of the \(cleaner.threads) log.cleaner.threads more than 1 MiB")
        }
        if logCleanerMinCompactionLagMs > logCleanerMaxCompactionLagMs {
            throw BrokerConfigError("log.cleaner.min.compaction.lag.ms must not exceed log.cleaner.max.compaction.lag.ms")
        }
        // As Kafka requires: a pool smaller than one request could never admit the largest.
        if queuedMaxRequestBytes > 0, queuedMaxRequestBytes < Int64(socketRequestMaxBytes) {
            throw BrokerConfigError(
                "queued.max.request.bytes (\(queuedMaxRequestBytes)) must be at least socket.request.max.bytes (\(socketRequestMaxBytes)), or -1")
        }
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

/// A `HOST:PORT` address (IPv6 hosts in brackets).
public struct HostPort: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port` or `[v6]:port`; an empty host means every interface. Nil when not that.
    init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.init(host: host.isEmpty ? "0.0.0.0" : host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// `etcd://host:port[,host:port...][/prefix]`, parsed.
public struct EtcdURL: Sendable, Equatable {
    /// `http://host:port` per endpoint, in the order given.
    public var endpoints: [String]
    /// The key prefix (default `/runnel`): several clusters can share one etcd.
    public var prefix: String

    public init(_ text: String) throws {
        guard text.hasPrefix("etcd://") else {
            throw BrokerConfigError("metadata.url: '\(text)' is not etcd://host:port[,host:port...][/prefix]")
        }
        let rest = text.dropFirst("etcd://".count)
        let slash = rest.firstIndex(of: "/")
        let hosts = slash.map { rest[..<$0] } ?? rest
        prefix = slash.map { String(rest[$0...]) } ?? "/runnel"
        if prefix == "/" { prefix = "/runnel" }
        endpoints = try hosts.split(separator: ",").map { entry in
            guard let colon = entry.lastIndex(of: ":"), let port = Int(entry[entry.index(after: colon)...]), (1...65535).contains(port),
                  colon > entry.startIndex
            else { throw BrokerConfigError("metadata.url: '\(entry)' in '\(text)' is not host:port") }
            return "http://" + entry
        }
        guard !endpoints.isEmpty else { throw BrokerConfigError("metadata.url: '\(text)' names no etcd endpoint") }
    }
}

public struct BrokerConfigError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
