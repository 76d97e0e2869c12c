import ArgumentParser
import Foundation
import Logging
import RunnelBroker
import ServiceLifecycle

/// `runnel broker`: one broker with embedded metadata (nothing else to install), or a member of
/// a cluster whose metadata lives in etcd (`--metadata etcd://...`).
struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker", abstract: "Run a single Runnel broker that Kafka clients can use.")

    @Option(name: .long, help: "A Kafka-style server.properties file (log.dirs, num.partitions, log.retention.hours, ...).")
    var config: String?

    @Option(name: .long, help: "The data directory (log.dirs).")
    var dataDir: String?

    @Option(name: .long, help: "Address to listen on, HOST:PORT or NAME://HOST:PORT (listeners); only PLAINTEXT is served.")
    var listen: String?

    @Option(name: .long, help: "Address clients are told to connect to, HOST:PORT (advertised.listeners).")
    var advertise: String?

    @Option(name: .long, help: "This broker's id in the cluster (node.id / broker.id).")
    var brokerId: Int32?

    @Option(name: .long, help: "Cluster metadata in etcd: etcd://HOST:PORT[,HOST:PORT...][/PREFIX] (metadata.url). Without it the broker runs alone on embedded metadata.")
    var metadata: String?

    @Option(name: .customLong("override"), help: "A broker setting KEY=VALUE, as in server.properties; repeatable.")
    var overrides: [String] = []

    @Option(name: .long, help: "Where /metrics, /healthz and /readyz are served, HOST:PORT, or none (metrics.listen; default 127.0.0.1:9644).")
    var metricsListen: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(name: .long, help: "Log line format: text, or json (one object per line, for log shippers).")
    var logFormat: LogFormat = .text

    enum LogFormat: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    func run() async throws {
        var settings = BrokerConfig()
        settings.logDirs = ["runnel-data"]
        settings.metricsListen = BrokerConfig.defaultMetricsListen
        if let config {
            try settings.apply(BrokerConfig.parseProperties(String(contentsOfFile: config, encoding: .utf8)))
        }
        if let dataDir { settings.logDirs = [dataDir] }
        if let brokerId { settings.nodeId = brokerId }
        if let metadata { try settings.apply(key: "metadata.url", value: metadata) }
        // A scheme given on the command line is kept, so `--listen SSL://...` is refused below
        // rather than served as plaintext.
        if let listen { try settings.apply(key: "listeners", value: Self.withScheme(listen)) }
        if let advertise { try settings.apply(key: "advertised.listeners", value: Self.withScheme(advertise)) }
        if let metricsListen { try settings.apply(key: "metrics.listen", value: metricsListen) }
        for override in overrides {
            guard let equals = override.firstIndex(of: "=") else { throw ValidationError("--override needs KEY=VALUE, got \(override)") }
            try settings.apply(key: String(override[..<equals]), value: String(override[override.index(after: equals)...]))
        }
        try settings.validate()
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level: '\(logLevel)' is not one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let format = logFormat
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = format == .json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "runnel.broker")
        Self.logSettings(settings, logger: logger)
        // Every partition holds descriptors open; the soft limit is a shell default (often 1024).
        let descriptors = DescriptorLimit.raiseSoftLimitToHard()
        if descriptors.after != descriptors.before {
            logger.info("raised the open file limit (RLIMIT_NOFILE) from \(descriptors.before) to \(descriptors.after)")
        }
        let broker = try await Broker.open(config: settings, logger: logger)
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: broker)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// The start-up lines an operator needs: the version, every setting given (file and
    /// flags, as given), and a warning per accepted setting that does nothing here.
    static func logSettings(_ settings: BrokerConfig, logger: Logger) {
        let given = settings.explicitSettings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        logger.info(
            "Runnel \(RunnelVersion.current): data in \(settings.logDirs.joined(separator: ",")), settings given: \(given.isEmpty ? "none (all defaults)" : given.joined(separator: " "))")
        for key in settings.ignoredSettings {
            logger.warning("\(key) is a Kafka setting Runnel accepts (so a Kafka server.properties runs unchanged) but does not use: ignored")
        }
        for key in settings.unknownSettings {
            logger.warning("\(key) is not a setting Runnel knows (misspelled, or a Kafka setting Runnel does not have): ignored")
        }
    }

    /// `HOST:PORT` as a PLAINTEXT listener; `NAME://HOST:PORT` as given.
    static func withScheme(_ address: String) -> String {
        address.contains("://") ? address : "PLAINTEXT://" + address
    }
}
