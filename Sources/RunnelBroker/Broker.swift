import Logging
import NIOCore
import NIOPosix
import RunnelCluster
import RunnelProtocol
import RunnelStorage
import ServiceLifecycle

/// A single Runnel broker: cluster metadata, the logs, the replica manager and the Kafka
/// listener, run as a swift-service-lifecycle `Service` (graceful shutdown on SIGTERM/SIGINT
/// flushes every log and writes the checkpoints and the clean-shutdown marker).
public final class Broker: Service, Sendable {
    public let config: BrokerConfig
    let schema: TopicConfigSchema
    let metadata: EmbeddedMetadataStore
    let logManager: LogManager
    let replicas: ReplicaManager
    let topics: TopicLifecycle
    let producerIds: ProducerIdAllocator
    let groups: GroupCoordinatorRuntime
    let logReads = LogReadPool()
    let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let connections: ConnectionRegistry
    /// `queued.max.request.bytes`, shared by every connection.
    private let requestMemory: RequestMemoryPool

    public init(config: BrokerConfig, logger: Logger) throws {
        try config.validate()
        self.config = config
        self.logger = logger
        connections = ConnectionRegistry(
            maxConnections: config.maxConnections, maxConnectionsPerIp: config.maxConnectionsPerIp, logger: logger)
        requestMemory = RequestMemoryPool(capacity: config.queuedMaxRequestBytes)
        schema = TopicConfigSchema(broker: config)
        // The log manager first: it locks every data directory, so a second broker on the same
        // directories stops here, before it reads or writes anything in them.
        logManager = try LogManager(directories: config.logDirs)
        metadata = try EmbeddedMetadataStore(directory: config.logDirs[0], brokerId: config.nodeId)
        // Every data directory is this broker's, in this cluster (or becomes so now).
        let identity = MetaProperties(clusterId: metadata.clusterId, nodeId: config.nodeId)
        for directory in config.logDirs { try identity.claim(directory: directory) }
        replicas = ReplicaManager(brokerId: config.nodeId, logManager: logManager, logger: logger)
        topics = TopicLifecycle(metadata: metadata, schema: schema, replicas: replicas, config: config)
        producerIds = ProducerIdAllocator(store: metadata)
        groups = GroupCoordinatorRuntime(config: config, replicas: replicas, logger: logger)
        group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
    }

    /// Loads every log (recovering them after a crash) and takes leadership of every partition.
    func loadLogs() throws {
        let known = Dictionary(uniqueKeysWithValues: metadata.topics.map { ($0.name, $0) })
        let schema = schema
        let report = try logManager.startup { partition in
            schema.logConfig(known[partition.topic]?.configs ?? [:])
        }
        // Partition directories of topics that no longer exist (deleted while down) go away.
        for log in logManager.allLogs where (known[log.topicPartition.topic].map { log.topicPartition.partition >= $0.partitionCount } ?? true) {
            try logManager.deleteLog(for: log.topicPartition)
        }
        for topic in known.values {
            // A topic whose missing logs cannot be created (one half-created by an older broker
            // that ran out of descriptors, a blocked directory) must not keep the broker from
            // starting: its partitions that opened are served, the others answer
            // UNKNOWN_TOPIC_OR_PARTITION, and every other topic works.
            do {
                try replicas.becomeLeader(of: topic, config: schema.logConfig(topic.configs))
            } catch {
                logger.error("topic \(topic.name): not every one of its \(topic.partitionCount) partitions could be opened, serving the others: \(error)")
            }
        }
        try groups.start(topics: topics, metadata: metadata)
        for problem in report.problems {
            switch problem.severity {
            case .error: logger.error("\(problem)")
            case .warning: logger.warning("\(problem)")
            }
        }
        // Never "clean" when data was cut: the line says what was lost and where it went.
        let how = report.damagedSegments > 0
            ? "DAMAGED FILES: \(report.recoveredBytes) bytes cut from \(report.damagedSegments) segments and moved to .corrupt files"
                + (report.cleanShutdown ? "" : " after an unclean shutdown")
            : report.cleanShutdown ? "clean shutdown" : "recovered after an unclean shutdown, nothing truncated"
        let summary = "loaded \(report.partitions) partitions from \(config.logDirs.joined(separator: ",")) (\(how))"
        if report.damagedSegments > 0 { logger.error("\(summary)") } else { logger.info("\(summary)") }
    }

    func makeDispatcher() -> RequestDispatcher {
        let context = HandlerContext(broker: self)
        var handlers = HandlerRegistry.handlers(context: context)
        let ranges = handlers.map { ($0.apiKey, $0.versions) }
        handlers.append(AnyAPIHandler(ApiVersionsHandler(others: ranges)))
        return RequestDispatcher(handlers: handlers, logger: logger)
    }

    /// Binds the listener and returns the address it got (the port may have been 0).
    public func start() async throws -> SocketAddress {
        try loadLogs()
        let dispatcher = makeDispatcher()
        let logger = logger
        let maxFrame = config.socketRequestMaxBytes
        let connections = connections
        let requestMemory = requestMemory
        let idleTimeout = config.connectionsMaxIdleMs > 0 ? TimeAmount.milliseconds(config.connectionsMaxIdleMs) : nil
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // A connection past max.connections(.per.ip) fails here and NIO closes it.
                    try connections.admit(channel)
                    let pipeline = channel.pipeline.syncOperations
                    // Outermost first: idleness counts real socket reads and writes only.
                    if let idleTimeout { try pipeline.addHandler(IdleStateHandler(allTimeout: idleTimeout)) }
                    let gate = ReadGate(pool: requestMemory)
                    try pipeline.addHandler(gate)
                    try pipeline.addHandler(ByteToMessageHandler(RequestFrameDecoder(maxFrameSize: maxFrame, gate: gate, pool: requestMemory)))
                    try pipeline.addHandler(
                        KafkaConnectionHandler(processor: dispatcher, registry: connections, gate: gate, pool: requestMemory, logger: logger))
                }
            }
            .bind(host: config.listenHost, port: config.listenPort).get()
        serverChannel.set(channel)
        let address = channel.localAddress!
        logger.info("Runnel broker \(config.nodeId) listening on \(address) (cluster \(metadata.clusterId))")
        return address
    }

    private let serverChannel = ManagedAtomicBox<(any Channel)?>(nil)

    /// Runs until graceful shutdown, with the retention and flush schedules.
    public func run() async throws {
        _ = try await start()
        let logManager = logManager
        let logger = logger
        let interval = Duration.milliseconds(min(config.logRetentionCheckIntervalMs, 1000))
        let producerState = ProducerStateMaintenance(
            logManager: logManager, expirationMs: config.producerIdExpirationMs,
            checkInterval: .milliseconds(config.producerIdExpirationCheckIntervalMs), logger: logger)
        // The schedules run until SIGTERM/SIGINT starts a graceful shutdown, which cancels them.
        await cancelWhenGracefulShutdown {
            async let producerExpiry: Void = producerState.run()
            await logManager.runSchedules(every: interval) { error in logger.error("log maintenance failed: \(error)") }
            await producerExpiry
        }
        logger.info("shutting down")
        try await stop()
    }

    /// Closes the listener and every connection (answering waiting fetches at once), lets
    /// running requests finish, then flushes and closes every log.
    public func stop() async throws {
        if let channel = serverChannel.get() { try? await channel.close() }
        replicas.waitingRoom.wakeAll()
        groups.stop()
        await connections.closeAll(timeout: .seconds(10))
        // No fetch is left to read for: the read pool's threads can go.
        try? await logReads.shutdown()
        try logManager.shutdown()
        try await group.shutdownGracefully()
        logger.info("stopped cleanly")
    }
}

/// A lock-protected box for values set once at start-up and read at shutdown.
final class ManagedAtomicBox<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ initial: Value) { value = Mutex(initial) }
    func get() -> Value { value.withLock { $0 } }
    func set(_ newValue: Value) { value.withLock { $0 = newValue } }
}

import Synchronization
