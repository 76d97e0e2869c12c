import RunnelProtocol
import RunnelStorage
import Testing
@testable import RunnelBroker

@Suite struct BrokerConfigTests {
    @Test func readsKafkaServerProperties() throws {
        let text = """
            # a Kafka server.properties
            node.id=3
            listeners=PLAINTEXT://0.0.0.0:9093
            advertised.listeners = PLAINTEXT://broker-3.local:9093
            log.dirs=/var/lib/a,/var/lib/b
            num.partitions: 6
            log.retention.hours=24
            log.segment.bytes=1048576
            auto.create.topics.enable=false
            ! another comment style
            process.roles=broker,controller
            """
        var config = BrokerConfig()
        try config.apply(BrokerConfig.parseProperties(text))
        #expect(config.nodeId == 3)
        #expect(config.listenHost == "0.0.0.0" && config.listenPort == 9093)
        #expect(config.advertised.host == "broker-3.local" && config.advertised.port == 9093)
        #expect(config.logDirs == ["/var/lib/a", "/var/lib/b"])
        #expect(config.numPartitions == 6)
        #expect(config.logRetentionMs == 24 * 3_600_000)
        #expect(config.logSegmentBytes == 1_048_576)
        #expect(!config.autoCreateTopics)
    }

    /// As Kafka does, an unknown key is ignored with a warning (`runnel broker` logs
    /// `unknownSettings` at start-up) and a Kafka-only key Runnel accepts is named as such;
    /// a bad value of a known key stops the broker.
    @Test func setsAsideUnknownAndKafkaOnlyKeysAndRejectsBadValues() throws {
        var config = BrokerConfig()
        try config.apply(key: "log.retention.hourz", value: "1")
        try config.apply(key: "num.network.threads", value: "8")
        #expect(config.unknownSettings == ["log.retention.hourz"])
        #expect(config.ignoredSettings == ["num.network.threads"])
        #expect(config.logRetentionMs == BrokerConfig().logRetentionMs)
        #expect(throws: BrokerConfigError.self) { try config.apply(key: "num.partitions", value: "many") }
        #expect(throws: BrokerConfigError.self) { try config.apply(key: "listeners", value: "nonsense") }
        #expect(throws: BrokerConfigError.self) { try config.apply(key: "auto.create.topics.enable", value: "yes") }
        #expect(throws: BrokerConfigError.self) { try config.apply(key: "log.cleanup.policy", value: "erase") }
        #expect(throws: BrokerConfigError.self) { try config.apply(key: "log.cleaner.min.cleanable.ratio", value: "2") }
    }

    @Test func logCleanerSettingsAreReadAndCheckedTogether() throws {
        var config = BrokerConfig()
        try config.apply(BrokerConfig.parseProperties("""
            log.cleanup.policy=compact
            log.cleaner.threads=2
            log.cleaner.dedupe.buffer.size=4194304
            log.cleaner.io.max.bytes.per.second=1048576
            log.cleaner.backoff.ms=100
            log.cleaner.delete.retention.ms=5
            """))
        #expect(config.cleaner.threads == 2 && config.cleaner.mapBytesPerThread == 2_097_152)
        #expect(config.cleaner.maxIOBytesPerSecond == 1_048_576 && config.cleaner.backoffMs == 100)
        #expect(TopicConfigSchema(broker: config).logConfig([:]).cleanupPolicy == .compact)
        #expect(TopicConfigSchema(broker: config).logConfig([:]).deleteRetentionMs == 5)
        try config.validate()
        // Kafka: each thread's map must hold more than 1 MiB.
        try config.apply(key: "log.cleaner.threads", value: "4")
        #expect(throws: BrokerConfigError.self) { try config.validate() }
        try config.apply(key: "log.cleaner.enable", value: "false")
        try config.validate()
    }
}

@Suite struct TopicConfigSchemaTests {
    let schema: TopicConfigSchema = {
        var broker = BrokerConfig()
        broker.logRetentionMs = 1000
        broker.logFlushIntervalMessages = 1
        return TopicConfigSchema(broker: broker)
    }()

    @Test func validatesKafkaNamesAndValues() {
        #expect(schema.validate(["retention.ms": "-1", "segment.bytes": "1048576", "compression.type": "zstd"]) == nil)
        #expect(schema.validate(["retention.ms": "soon"]) != nil)
        #expect(schema.validate(["retention.ms": "-2"]) != nil)
        #expect(schema.validate(["cleanup.policy": "compact"]) == nil)
        #expect(schema.validate(["cleanup.policy": "compact, delete", "min.cleanable.dirty.ratio": "0.01"]) == nil)
        #expect(schema.validate(["cleanup.policy": "compacted"]) != nil)
        #expect(schema.validate(["min.cleanable.dirty.ratio": "1.5"]) != nil)
        #expect(schema.validate(["min.compaction.lag.ms": "5000", "max.compaction.lag.ms": "1000"])?.contains("min.compaction.lag.ms") == true)
        #expect(schema.validate(["delete.retention.ms": "-1"]) != nil)
        #expect(schema.validate(["no.such.config": "1"])?.contains("Unknown topic config") == true)
        #expect(schema.validate(["message.timestamp.type": "LogAppendTime", "min.insync.replicas": "0"]) != nil)
    }

    @Test func brokerDefaultsAndOverridesBecomeTheLogConfig() {
        let defaults = schema.logConfig([:])
        #expect(defaults.retentionMs == 1000)
        #expect(defaults.syncsBeforeAcknowledge)
        let overridden = schema.logConfig(["retention.ms": "5", "flush.messages": "1000", "segment.bytes": "2048"])
        #expect(overridden.retentionMs == 5 && overridden.segmentBytes == 2048 && !overridden.syncsBeforeAcknowledge)
        let values = Dictionary(uniqueKeysWithValues: schema.effective(["retention.ms": "5"]).map { ($0.entry.name, ($0.value, $0.isOverride)) })
        #expect(values["retention.ms"]! == ("5", true))
        #expect(values["segment.bytes"]! == ("1073741824", false))
    }

    @Test func aCompactedTopicRequiresKeysAndMapsItsCleanerSettings() {
        #expect(schema.produceSettings(["cleanup.policy": "compact"]).requiresKeys)
        #expect(schema.produceSettings(["cleanup.policy": "compact,delete"]).requiresKeys)
        #expect(!schema.produceSettings([:]).requiresKeys)
        let config = schema.logConfig([
            "cleanup.policy": "compact,delete", "min.cleanable.dirty.ratio": "0.25", "delete.retention.ms": "7",
            "min.compaction.lag.ms": "3", "max.compaction.lag.ms": "100", "segment.ms": "1000",
        ])
        #expect(config.cleanupPolicy == [.compact, .delete] && config.minCleanableDirtyRatio == 0.25 && config.deleteRetentionMs == 7)
        #expect(config.minCompactionLagMs == 3 && config.maxCompactionLagMs == 100 && config.rollMs == 100)
        #expect(schema.entry(named: "min.cleanable.dirty.ratio")?.type == .double)
    }

    @Test func produceSettingsReadCompressionAndTimestampPolicies() {
        #expect(schema.produceSettings([:]).compression == nil)
        #expect(schema.produceSettings(["compression.type": "lz4"]).compression == .some(.lz4))
        #expect(schema.produceSettings(["compression.type": "uncompressed"]).compression == .some(CompressionCodec.none))
        #expect(schema.produceSettings(["message.timestamp.type": "LogAppendTime"]).logAppendTime)
    }
}

import RunnelCodecs
