import RunnelCodecs
import RunnelStorage

/// The topic-level configs Runnel supports, with Kafka's names, types, broker defaults and
/// validation. Drives CreateTopics/AlterConfigs validation, DescribeConfigs, and the
/// `LogConfig` each partition log runs with.
public struct TopicConfigSchema: Sendable {
    public enum ValueType: Int8, Sendable {
        // DescribeConfigs v3+ config types.
        case boolean = 1, string = 2, int = 3, long = 5, double = 6, list = 7
    }

    public struct Entry: Sendable {
        public var name: String
        public var type: ValueType
        /// The broker setting that provides the default, as Kafka names it (a synonym).
        public var brokerSynonym: String?
        public var documentation: String
        /// The default, from the broker config.
        var defaultValue: @Sendable (BrokerConfig) -> String
        /// nil if the value is acceptable, else why not.
        var validate: @Sendable (String) -> String?
    }

    public let entries: [Entry]
    public let broker: BrokerConfig

    public init(broker: BrokerConfig) {
        self.broker = broker
        entries = Self.definitions
    }

    public func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

    /// Why these overrides are invalid, or nil if they are fine.
    public func validate(_ overrides: [String: String]) -> String? {
        for (name, value) in overrides.sorted(by: { $0.key < $1.key }) {
            guard let entry = entry(named: name) else { return "Unknown topic config name: \(name)" }
            if let problem = entry.validate(value) { return "Invalid value \(value) for configuration \(name): \(problem)" }
        }
        // Kafka's cross-check of effective values (LogConfig.validateValues).
        let config = logConfig(overrides)
        if config.minCompactionLagMs > config.maxCompactionLagMs {
            return "conflict topic config setting min.compaction.lag.ms (\(config.minCompactionLagMs)) > max.compaction.lag.ms (\(config.maxCompactionLagMs))"
        }
        return nil
    }

    /// Every config's effective value and whether it is a topic override.
    public func effective(_ overrides: [String: String]) -> [(entry: Entry, value: String, isOverride: Bool)] {
        entries.map { entry in
            if let value = overrides[entry.name] { return (entry, value, true) }
            return (entry, entry.defaultValue(broker), false)
        }
    }

    /// The log settings for a topic with these overrides (assumed valid).
    public func logConfig(_ overrides: [String: String]) -> LogConfig {
        let values = Dictionary(uniqueKeysWithValues: effective(overrides).map { ($0.entry.name, $0.value) })
        var config = LogConfig()
        config.segmentBytes = Int(values["segment.bytes"]!) ?? config.segmentBytes
        config.segmentMs = Int64(values["segment.ms"]!) ?? config.segmentMs
        config.maxIndexBytes = Int(values["segment.index.bytes"]!) ?? config.maxIndexBytes
        config.indexIntervalBytes = Int(values["index.interval.bytes"]!) ?? config.indexIntervalBytes
        config.retentionMs = Int64(values["retention.ms"]!) ?? config.retentionMs
        config.retentionBytes = Int64(values["retention.bytes"]!) ?? config.retentionBytes
        config.flushMessages = Int64(values["flush.messages"]!) ?? config.flushMessages
        config.flushMs = Int64(values["flush.ms"]!) ?? config.flushMs
        config.cleanupPolicy = CleanupPolicy(listing: values["cleanup.policy"]!) ?? config.cleanupPolicy
        config.minCleanableDirtyRatio = Double(values["min.cleanable.dirty.ratio"]!) ?? config.minCleanableDirtyRatio
        config.minCompactionLagMs = Int64(values["min.compaction.lag.ms"]!) ?? config.minCompactionLagMs
        config.maxCompactionLagMs = Int64(values["max.compaction.lag.ms"]!) ?? config.maxCompactionLagMs
        config.deleteRetentionMs = Int64(values["delete.retention.ms"]!) ?? config.deleteRetentionMs
        return config
    }

    /// Settings the produce path needs, parsed once per request.
    public struct ProduceSettings: Sendable {
        /// nil keeps the producer's codec ("producer"); otherwise the broker recompresses.
        public var compression: CompressionCodec??
        public var maxMessageBytes: Int
        public var logAppendTime: Bool
        public var minInsyncReplicas: Int32
        /// A compacted topic refuses records without a key (Kafka: INVALID_RECORD).
        public var requiresKeys: Bool
    }

    public func produceSettings(_ overrides: [String: String]) -> ProduceSettings {
        func value(_ name: String) -> String { overrides[name] ?? entry(named: name)!.defaultValue(broker) }
        let compressionName = value("compression.type")
        let compression: CompressionCodec?? = switch compressionName {
        case "producer": nil
        case "uncompressed": .some(CompressionCodec.none)
        default: .some(CompressionCodec(name: compressionName))
        }
        return ProduceSettings(
            compression: compression, maxMessageBytes: Int(value("max.message.bytes")) ?? broker.messageMaxBytes,
            logAppendTime: value("message.timestamp.type") == "LogAppendTime",
            minInsyncReplicas: Int32(value("min.insync.replicas")) ?? 1,
            requiresKeys: CleanupPolicy(listing: value("cleanup.policy"))?.contains(.compact) ?? false)
    }

    /// A topic's effective `unclean.leader.election.enable`.
    public func uncleanLeaderElection(_ overrides: [String: String]) -> Bool {
        (overrides["unclean.leader.election.enable"] ?? String(broker.uncleanLeaderElectionEnable)) == "true"
    }

    // MARK: Definitions

    static func long(min: Int64) -> @Sendable (String) -> String? {
        { Int64($0).map { $0 >= min ? nil : "Value must be at least \(min)" } ?? "Not a number" }
    }

    static func int(min: Int32) -> @Sendable (String) -> String? {
        { Int32($0).map { $0 >= min ? nil : "Value must be at least \(min)" } ?? "Not a 32-bit number" }
    }

    static func double(in range: ClosedRange<Double>) -> @Sendable (String) -> String? {
        { Double($0).map { range.contains($0) ? nil : "Value must be between \(range.lowerBound) and \(range.upperBound)" } ?? "Not a number" }
    }

    static func oneOf(_ allowed: [String]) -> @Sendable (String) -> String? {
        { allowed.contains($0) ? nil : "String must be one of: \(allowed.joined(separator: ", "))" }
    }

    static let definitions: [Entry] = [
        Entry(name: "cleanup.policy", type: .list, brokerSynonym: "log.cleanup.policy",
              documentation: "delete: old segments are deleted by retention time and size; compact: the log cleaner keeps the last record of each key; or both (compact,delete).",
              defaultValue: { $0.logCleanupPolicy },
              validate: { CleanupPolicy(listing: $0) == nil ? "List must hold delete, compact or both" : nil }),
        Entry(name: "delete.retention.ms", type: .long, brokerSynonym: "log.cleaner.delete.retention.ms",
              documentation: "How long a tombstone stays in a compacted topic once the cleaner first kept it.",
              defaultValue: { String($0.logCleanerDeleteRetentionMs) }, validate: long(min: 0)),
        Entry(name: "max.compaction.lag.ms", type: .long, brokerSynonym: "log.cleaner.max.compaction.lag.ms",
              documentation: "A record older than this makes its segment cleanable whatever the dirty ratio.",
              defaultValue: { String($0.logCleanerMaxCompactionLagMs) }, validate: long(min: 1)),
        Entry(name: "min.cleanable.dirty.ratio", type: .double, brokerSynonym: "log.cleaner.min.cleanable.ratio",
              documentation: "The share of a compacted log not yet cleaned at which the cleaner takes it.",
              defaultValue: { String($0.logCleanerMinCleanableRatio) }, validate: double(in: 0...1)),
        Entry(name: "min.compaction.lag.ms", type: .long, brokerSynonym: "log.cleaner.min.compaction.lag.ms",
              documentation: "A record stays uncompacted at least this long.",
              defaultValue: { String($0.logCleanerMinCompactionLagMs) }, validate: long(min: 0)),
        Entry(name: "compression.type", type: .string, brokerSynonym: "compression.type",
              documentation: "producer keeps the producer's codec; a named codec makes the broker recompress.",
              defaultValue: { $0.compressionType },
              validate: oneOf(["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"])),
        Entry(name: "flush.messages", type: .long, brokerSynonym: "log.flush.interval.messages",
              documentation: "fsync after this many records; 1 fsyncs every append before it is acknowledged (group commit).",
              defaultValue: { String($0.logFlushIntervalMessages) }, validate: long(min: 1)),
        Entry(name: "flush.ms", type: .long, brokerSynonym: "log.flush.interval.ms",
              documentation: "fsync once unflushed data is this old.",
              defaultValue: { String($0.logFlushIntervalMs) }, validate: long(min: 0)),
        Entry(name: "index.interval.bytes", type: .int, brokerSynonym: "log.index.interval.bytes",
              documentation: "Bytes of batches between two sparse index entries.",
              defaultValue: { String($0.logIndexIntervalBytes) }, validate: int(min: 0)),
        Entry(name: "max.message.bytes", type: .int, brokerSynonym: "message.max.bytes",
              documentation: "The largest record batch size allowed.",
              defaultValue: { String($0.messageMaxBytes) }, validate: int(min: 0)),
        Entry(name: "message.timestamp.type", type: .string, brokerSynonym: "log.message.timestamp.type",
              documentation: "CreateTime keeps the producer's timestamps; LogAppendTime stamps the broker's.",
              defaultValue: { $0.logMessageTimestampType }, validate: oneOf(["CreateTime", "LogAppendTime"])),
        Entry(name: "min.insync.replicas", type: .int, brokerSynonym: "min.insync.replicas",
              documentation: "With acks=all, the fewest in-sync replicas that must have a write.",
              defaultValue: { String($0.minInsyncReplicas) }, validate: int(min: 1)),
        Entry(name: "retention.bytes", type: .long, brokerSynonym: "log.retention.bytes",
              documentation: "Delete the oldest segments while a partition is larger; -1 for no limit.",
              defaultValue: { String($0.logRetentionBytes) }, validate: long(min: -1)),
        Entry(name: "retention.ms", type: .long, brokerSynonym: "log.retention.ms",
              documentation: "Delete segments whose newest record is older; -1 keeps them forever.",
              defaultValue: { String($0.logRetentionMs) }, validate: long(min: -1)),
        Entry(name: "segment.bytes", type: .int, brokerSynonym: "log.segment.bytes",
              documentation: "Roll the active segment before it passes this size.",
              defaultValue: { String($0.logSegmentBytes) }, validate: int(min: 1024)),
        Entry(name: "segment.index.bytes", type: .int, brokerSynonym: "log.index.size.max.bytes",
              documentation: "Size of each preallocated index file; a full index rolls the segment.",
              defaultValue: { String($0.logIndexSizeMaxBytes) }, validate: int(min: 12)),
        Entry(name: "unclean.leader.election.enable", type: .boolean, brokerSynonym: "unclean.leader.election.enable",
              documentation: "true lets the controller elect a replica that is not in sync when no in-sync one is live, losing what it lacks.",
              defaultValue: { String($0.uncleanLeaderElectionEnable) }, validate: oneOf(["true", "false"])),
        Entry(name: "segment.ms", type: .long, brokerSynonym: "log.roll.ms",
              documentation: "Roll the active segment once it is this old.",
              defaultValue: { String($0.logRollMs) }, validate: long(min: 1)),
    ]
}
