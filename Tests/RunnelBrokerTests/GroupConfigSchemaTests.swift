import Testing
@testable import RunnelBroker

/// A consumer group's own configs: Kafka's names, the broker's defaults and bounds.
@Suite struct GroupConfigSchemaTests {
    @Test func defaultsComeFromTheBrokerAndOverridesWin() throws {
        var broker = BrokerConfig()
        try broker.apply(key: "group.consumer.session.timeout.ms", value: "50000")
        let schema = GroupConfigSchema(broker: broker)
        #expect(schema.sessionTimeoutMs([:]) == 50_000)
        #expect(schema.heartbeatIntervalMs([:]) == 5_000)
        #expect(schema.sessionTimeoutMs(["consumer.session.timeout.ms": "60000"]) == 60_000)
        let effective = schema.effective(["consumer.heartbeat.interval.ms": "6000"])
        #expect(effective.map(\.value) == ["50000", "6000"])
        #expect(effective.map(\.isOverride) == [false, true])
    }

    @Test func valuesOutsideTheBrokersBoundsOrNotNumbersOrUnknownAreRefused() throws {
        var broker = BrokerConfig()
        try broker.apply(key: "group.consumer.max.session.timeout.ms", value: "90000")
        let schema = GroupConfigSchema(broker: broker)
        #expect(schema.validate(["consumer.session.timeout.ms": "90000", "consumer.heartbeat.interval.ms": "15000"]) == nil)
        #expect(schema.validate(["consumer.session.timeout.ms": "44999"])?.contains("group.consumer.min.session.timeout.ms") == true)
        #expect(schema.validate(["consumer.session.timeout.ms": "90001"])?.contains("group.consumer.max.session.timeout.ms") == true)
        #expect(schema.validate(["consumer.heartbeat.interval.ms": "4999"])?.contains("group.consumer.min.heartbeat.interval.ms") == true)
        #expect(schema.validate(["consumer.heartbeat.interval.ms": "15001"])?.contains("group.consumer.max.heartbeat.interval.ms") == true)
        #expect(schema.validate(["consumer.session.timeout.ms": "50s"])?.contains("Not a number") == true)
        #expect(schema.validate(["consumer.session.timeout.ms": "3000000000"])?.contains("Not a number") == true)
        #expect(schema.validate(["share.record.lock.duration.ms": "30000"]) == "Unknown group config name: share.record.lock.duration.ms")
    }

    @Test func theHeartbeatMustBeShorterThanTheSession() throws {
        var broker = BrokerConfig()
        try broker.apply(key: "group.consumer.min.session.timeout.ms", value: "1000")
        let schema = GroupConfigSchema(broker: broker)
        #expect(schema.validate(["consumer.session.timeout.ms": "5000"])?.contains("must be less than consumer.session.timeout.ms") == true)
        #expect(schema.validate(["consumer.session.timeout.ms": "5001"]) == nil)
    }
}
