import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RunnelBroker
import RunnelClient

/// A real broker in this process, on a free loopback port, with its own data directory.
final class BrokerHarness: Sendable {
    private let current: NIOLockedValueBox<Broker>
    let config: BrokerConfig
    let port: Int
    let directory: URL

    private init(broker: Broker, config: BrokerConfig, port: Int, directory: URL) {
        self.current = NIOLockedValueBox(broker)
        self.config = config
        self.port = port
        self.directory = directory
    }

    var broker: Broker { current.withLockedValue { $0 } }

    /// Stops the broker and starts a new one on the same port and data directory.
    func restart() async throws {
        try await broker.stop()
        let fresh = try Broker(config: config, logger: Self.logger)
        _ = try await fresh.start()
        current.withLockedValue { $0 = fresh }
    }

    private static var logger: Logger {
        var logger = Logger(label: "test.broker")
        logger.logLevel = .warning
        return logger
    }

    static func start(overrides: [String: String] = [:]) async throws -> BrokerHarness {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("runnel-client-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = try await freePort()
        var config = BrokerConfig()
        config.logDirs = [directory.path]
        try config.apply(key: "listeners", value: "PLAINTEXT://127.0.0.1:\(port)")
        try config.apply(key: "group.initial.rebalance.delay.ms", value: "0")
        for (key, value) in overrides { try config.apply(key: key, value: value) }
        let broker = try Broker(config: config, logger: logger)
        _ = try await broker.start()
        return BrokerHarness(broker: broker, config: config, port: port, directory: directory)
    }

    var bootstrap: String { "127.0.0.1:\(port)" }

    var clientConfiguration: ClientConfiguration {
        get throws { try ClientConfiguration(bootstrapServers: bootstrap) }
    }

    func stop() async throws {
        try await broker.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// A port the kernel just handed out and released.
    private static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress!.port!
        try await channel.close()
        return port
    }
}

/// Runs `body` against a fresh broker and stops it afterwards, whatever happens.
func withBroker<T>(overrides: [String: String] = [:], _ body: (BrokerHarness) async throws -> T) async throws -> T {
    let harness = try await BrokerHarness.start(overrides: overrides)
    do {
        let result = try await body(harness)
        try await harness.stop()
        return result
    } catch {
        try? await harness.stop()
        throw error
    }
}
