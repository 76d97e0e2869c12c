import Testing
@testable import RunnelBroker

/// The connection and fetch limits read from server.properties, and listeners refused until
/// their security protocol is supported.
@Suite struct BrokerConfigLimitsTests {
    @Test func readsTheLimitKeysWithKafkasDefaults() throws {
        var config = BrokerConfig()
        #expect(config.fetchMaxBytes == 57_671_680)
        #expect(config.connectionsMaxIdleMs == 600_000)
        #expect(config.queuedMaxRequestBytes >= Int64(config.socketRequestMaxBytes), "the default must pass validation")
        try config.validate()
        try config.apply(BrokerConfig.parseProperties("""
            fetch.max.bytes=1048576
            queued.max.request.bytes=209715200
            connections.max.idle.ms=1000
            max.connections=10
            max.connections.per.ip=3
            """))
        #expect(config.fetchMaxBytes == 1_048_576)
        #expect(config.queuedMaxRequestBytes == 209_715_200)
        #expect(config.connectionsMaxIdleMs == 1000)
        #expect(config.maxConnections == 10 && config.maxConnectionsPerIp == 3)
        try config.validate()
    }

    @Test func refusesOutOfRangeLimits() {
        var config = BrokerConfig()
        #expect(throws: BrokerConfigError.self) { try config.apply(key: "fetch.max.bytes", value: "1023") }
        #expect(throws: BrokerConfigError.self) { try config.apply(key: "fetch.max.bytes", value: "2147483648") }
        #expect(throws: BrokerConfigError.self) { try config.apply(key: "max.connections", value: "-1") }
        #expect(throws: BrokerConfigError.self) { try config.apply(key: "group.consumer.heartbeat.interval.ms", value: "2147483648") }
        // A pool smaller than one request could never admit the largest (Kafka refuses it too).
        config.queuedMaxRequestBytes = 1024
        #expect(throws: BrokerConfigError.self) { try config.validate() }
        config.queuedMaxRequestBytes = -1
        #expect(throws: Never.self) { try config.validate() }
    }

    @Test(arguments: [
        "listeners=SSL://127.0.0.1:9093",
        "listeners=SASL_SSL://127.0.0.1:9093",
        "listeners=SASL_PLAINTEXT://127.0.0.1:9093",
        "listeners=PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9093",
        "listeners=CLIENT://127.0.0.1:9092\nlistener.security.protocol.map=CLIENT:SSL",
        "listeners=PLAINTEXT://127.0.0.1:9092\nadvertised.listeners=SSL://broker:9093",
        "listeners=NOPROTOCOL://127.0.0.1:9092",
    ])
    func refusesListenersThatAreNotPlaintext(properties: String) throws {
        var config = BrokerConfig()
        try config.apply(BrokerConfig.parseProperties(properties))
        #expect(throws: BrokerConfigError.self) { try config.validate() }
    }

    @Test func acceptsPlaintextListenersUnderAnyName() throws {
        var config = BrokerConfig()
        // A Kafka KRaft server.properties as shipped: the controller listener defaults to
        // PLAINTEXT, and the map may come after the listeners.
        try config.apply(BrokerConfig.parseProperties("""
            listeners=PLAINTEXT://:9092,CONTROLLER://:9093
            controller.listener.names=CONTROLLER
            """))
        try config.validate()
        #expect(config.listenPort == 9092 && config.listenerNames == ["PLAINTEXT", "CONTROLLER"])
        var mapped = BrokerConfig()
        try mapped.apply(BrokerConfig.parseProperties("""
            listeners=CLIENT://127.0.0.1:9092
            listener.security.protocol.map=CLIENT:PLAINTEXT,CONTROLLER:PLAINTEXT
            """))
        try mapped.validate()
        #expect(mapped.listenHost == "127.0.0.1")
    }
}
