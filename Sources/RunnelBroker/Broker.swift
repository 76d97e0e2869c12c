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
    /// Where the cluster metadata lives (the embedded file by default).
    let store: any MetadataStore
    /// The metadata image this broker has applied; what handlers read.
    let view: MetadataView
    let applier: MetadataApplier
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
    /// Warnings about clients (malformed requests, connection errors): one per kind per 10 s.
    private let connectionWarnings = LogLineRateLimiter(intervalMilliseconds: 10_000)

    /// This broker's registration and lease: whether it may act as leader.
    let membership: ClusterMembership
    /// The controller duties, in an etcd cluster (the embedded store's broker is its own controller).
    let controller: ControllerLoop?
    /// Every series `/metrics` shows.
    public let metrics: BrokerMetrics
    /// What `/readyz` answers.
    public let readiness: Readiness
    private let stateGauges: StateGauges
    private let metricsChannel = ManagedAtomicBox<(any Channel)?>(nil)
    /// Where `/metrics` scrapes run (see MetricsServer).
    private let scrapes = NIOThreadPool(numberOfThreads: 1)

    /// A broker on the embedded metadata store (no cluster).
    public convenience init(config: BrokerConfig, logger: Logger) throws {
        try config.validate()
        // The log manager first: it locks every data directory, so a second broker on the same
        // directories stops here, before it reads or writes anything in them.
        let metrics = BrokerMetrics()
        let logManager = try LogManager(directories: config.logDirs, syncer: .measured(.system, by: metrics.logFlush))
        let store = try EmbeddedMetadataStore(directory: config.logDirs[0], brokerId: config.nodeId)
        try self.init(config: config, logger: logger, logManager: logManager, store: store, metrics: metrics)
    }

    /// A broker on the store `config.metadataURL` names: etcd (joining that cluster, or
    /// founding it), else the embedded store.
    public static func open(config: BrokerConfig, logger: Logger) async throws -> Broker {
        guard let url = config.metadataURL else { return try Broker(config: config, logger: logger) }
        try config.validate()
        let target = try EtcdURL(url)
        let metrics = BrokerMetrics()
        let logManager = try LogManager(directories: config.logDirs, syncer: .measured(.system, by: metrics.logFlush))
        // A data directory that belongs to a cluster must find it in etcd (else the broker
        // refuses: a wiped etcd or a wrong prefix must not turn its logs into strays to
        // delete); and a cluster other than its own is refused by `claim` below.
        let recorded = try config.logDirs.lazy.compactMap { try MetaProperties.read(directory: $0) }.first
        let store = try await EtcdMetadataStore.connect(
            endpoints: target.endpoints, prefix: target.prefix,
            founding: recorded.map { .mustExist(recordedClusterId: $0.clusterId) }
                ?? .mayFound(proposedClusterId: EmbeddedMetadataStore.newClusterId()),
            leaseTTLSeconds: config.metadataLeaseTTLSeconds, logger: logger)
        do {
            return try Broker(config: config, logger: logger, logManager: logManager, store: store, metrics: metrics)
        } catch {
            await store.close()
            try? logManager.shutdown()
            throw error
        }
    }

    init(
        config: BrokerConfig, logger: Logger, logManager: LogManager, store: any MetadataStore, metrics: BrokerMetrics = BrokerMetrics()
    ) throws {
        self.config = config
        self.metrics = metrics
        self.logger = logger
        self.logManager = logManager
        self.store = store
        connections = ConnectionRegistry(
            maxConnections: config.maxConnections, maxConnectionsPerIp: config.maxConnectionsPerIp, logger: logger)
        requestMemory = RequestMemoryPool(capacity: config.queuedMaxRequestBytes)
        schema = TopicConfigSchema(broker: config)
        // Every data directory is this broker's, in this cluster (or becomes so now).
        let identity = MetaProperties(clusterId: store.clusterId, nodeId: config.nodeId)
        for directory in config.logDirs { try identity.claim(directory: directory) }
        let view = MetadataView(store.currentImage())
        self.view = view
        let membership = ClusterMembership(store: store, logger: logger, appliedRevision: { view.revision })
        self.membership = membership
        replicas = ReplicaManager(
            brokerId: config.nodeId, logManager: logManager, view: view, logger: logger, store: store,
            settings: ReplicaFetcherManager.Settings(
                waitMaxMs: config.replicaFetchWaitMaxMs, partitionMaxBytes: config.replicaFetchMaxBytes,
                responseMaxBytes: config.replicaFetchResponseMaxBytes, backoffMs: config.replicaFetchBackoffMs),
            replicaLagTimeMaxMs: config.replicaLagTimeMaxMs, mayLead: { membership.mayLead() },
            isrChanged: { before, after in
                // Counted per replica: a change that swaps one for another is a shrink and an expand.
                metrics.isrShrinks.increment(by: Int64(before.subtracting(after).count))
                metrics.isrExpands.increment(by: Int64(after.subtracting(before).count))
            })
        groups = GroupCoordinatorRuntime(
            config: config, replicas: replicas, view: view, store: store, logger: logger, rebalances: metrics.rebalances)
        applier = MetadataApplier(store: store, view: view, replicas: replicas, schema: schema, groups: groups, logger: logger)
        topics = TopicLifecycle(store: store, view: view, schema: schema, replicas: replicas, config: config)
        producerIds = ProducerIdAllocator(store: store)
        let schema = schema
        controller = (store as? EtcdMetadataStore).map {
            ControllerLoop(
                store: $0, brokerId: config.nodeId, membership: membership, rebalancePreferred: config.autoLeaderRebalanceEnable,
                uncleanAllowed: { topic in schema.uncleanLeaderElection(topic.configs) }, logger: logger)
        }
        group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        // Ready once listening; in a cluster also registered and caught up.
        let inCluster = controller != nil
        let caughtUp = Self.caughtUp(nodeId: config.nodeId, membership: membership, view: view, replicas: replicas)
        readiness = Readiness(caughtUp: { inCluster ? caughtUp() : nil })
        stateGauges = StateGauges(
            sources: Self.gaugeSources(
                nodeId: config.nodeId, schema: schema, view: view, replicas: replicas, groups: groups, connections: connections),
            metrics: metrics)
    }

    /// This broker as the metadata lists it: where clients reach it.
    private func registration(port: Int) -> BrokerRegistration {
        BrokerRegistration(
            brokerId: config.nodeId, host: config.advertisedHost ?? config.listenHost,
            port: Int32(config.advertisedPort ?? port), rack: config.brokerRack, incarnation: incarnation)
    }

    /// A random id for this process, so that its registration is told from another's.
    private let incarnation = KafkaUUID.random().description

    /// Loads every log (recovering them after a crash), applies the metadata (hosting every
    /// partition this broker holds, in its role) and starts following the store.
    func loadLogs() async throws {
        let image = store.currentImage()
        let known = image.topicsByName
        let schema = schema
        let report = try logManager.startup { partition in
            schema.logConfig(known[partition.topic]?.configs ?? [:])
        }
        // Partition directories this broker does not hold (topics deleted while it was down,
        // partitions placed elsewhere) go away; one whose state the store could not decode
        // stays. (A log of an older topic of the same name is replaced when hosted.)
        for log in logManager.allLogs where image.holds(log.topicPartition, topicId: nil, broker: config.nodeId) == false {
            try logManager.deleteLog(for: log.topicPartition)
        }
        applier.applyNow(image)
        applier.start()
        replicas.startReplication()
        // In a cluster `__consumer_offsets` is created when groups are first used and enough
        // brokers are live (FindCoordinator); on one broker, now.
        try await groups.start(topics: topics, metadata: view, createTopic: controller == nil)
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
        startLogCleaner()
    }

    /// Starts the log cleaner for compacted topics, its reports going to the broker's log.
    private func startLogCleaner() {
        let logger = logger
        guard config.cleaner.runsCleaner else {
            let compacted = logManager.allLogs.filter { $0.config.cleanupPolicy.contains(.compact) }.count
            if compacted > 0 {
                logger.warning("the log cleaner is off (log.cleaner.enable / log.cleaner.threads): \(compacted) compacted partitions will only grow")
            }
            return
        }
        let cleaner = metrics.cleaner
        logManager.startCleaner(config: config.cleaner) { event in
            switch event {
            case .cleaned(let partition, let summary, let figures):
                cleaner.record(figures)
                logger.info("log cleaner: \(partition): \(summary)")
            case .failed(let partition, let reason):
                cleaner.failures.increment()
                logger.error("log cleaner: \(partition) will not be cleaned again until restart: \(reason)")
            case .checkpointFailed(let directory, let reason):
                logger.warning("log cleaner: could not write the cleaner-offset-checkpoint in \(directory): \(reason)")
            }
        }
    }

    func makeDispatcher() -> RequestDispatcher {
        let context = HandlerContext(broker: self)
        var handlers = HandlerRegistry.handlers(context: context)
        let ranges = handlers.map { ($0.apiKey, $0.versions) }
        handlers.append(AnyAPIHandler(ApiVersionsHandler(others: ranges)))
        let requestMetrics = RequestMetrics(registry: metrics.registry, apiKeys: handlers.map(\.apiKey))
        // Runnel's own request, served but never advertised (no Kafka client should see it).
        handlers.append(AnyAPIHandler(RunnelTraceHandler(context: context)))
        return RequestDispatcher(handlers: handlers, logger: logger, metrics: requestMetrics)
    }

    /// Binds the listener and returns the address it got (the port may have been 0).
    public func start() async throws -> SocketAddress {
        // On its own a broker registers first, so that placement at start-up
        // (`__consumer_offsets`) sees it live. In a cluster it registers once its logs are
        // loaded and before it listens, so a broker refused its id never serves anyone. (With
        // port 0 the port is known only after binding: then it registers after.)
        if controller == nil { try await membership.join(registration(port: config.listenPort)) }
        try await loadLogs()
        let joinedBeforeListening = controller == nil || config.listenPort != 0
        if controller != nil, joinedBeforeListening { try await membership.join(registration(port: config.listenPort)) }
        let dispatcher = makeDispatcher()
        let logger = logger
        let maxFrame = config.socketRequestMaxBytes
        let connections = connections
        let requestMemory = requestMemory
        let metrics = metrics
        let connectionWarnings = connectionWarnings
        let idleTimeout = config.connectionsMaxIdleMs > 0 ? TimeAmount.milliseconds(config.connectionsMaxIdleMs) : nil
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // A connection past max.connections(.per.ip) fails here and NIO closes it.
                    do {
                        try connections.admit(channel)
                        metrics.connectionsAccepted.increment()
                    } catch {
                        metrics.connectionsRefused.increment()
                        throw error
                    }
                    let pipeline = channel.pipeline.syncOperations
                    // Outermost first: idleness counts real socket reads and writes only.
                    if let idleTimeout { try pipeline.addHandler(IdleStateHandler(allTimeout: idleTimeout)) }
                    let gate = ReadGate(pool: requestMemory)
                    try pipeline.addHandler(gate)
                    try pipeline.addHandler(ByteToMessageHandler(RequestFrameDecoder(maxFrameSize: maxFrame, gate: gate, pool: requestMemory)))
                    try pipeline.addHandler(
                        KafkaConnectionHandler(
                            processor: dispatcher, registry: connections, gate: gate, pool: requestMemory, logger: logger,
                            metrics: dispatcher.metrics, warnings: connectionWarnings))
                }
            }
            .bind(host: config.listenHost, port: config.listenPort).get()
        serverChannel.set(channel)
        let address = channel.localAddress!
        if !joinedBeforeListening || address.port != config.listenPort {
            // Port 0 asked for any free port: the registration names the one bound.
            try await membership.join(registration(port: address.port ?? config.listenPort))
        }
        controller?.start()
        readiness.markListening()
        logger.info("Runnel \(RunnelVersion.current) broker \(config.nodeId) listening on \(address) (cluster \(store.clusterId))")
        return address
    }

    /// Binds the operators' HTTP listener (`metrics.listen`) and returns its address; nil when
    /// it is off. Bound before the logs load, so `/readyz` answers "not ready" meanwhile.
    public func startMetricsListener() async throws -> SocketAddress? {
        guard let listen = config.metricsListen else { return nil }
        let gauges = stateGauges
        let readiness = readiness
        let channel: any Channel
        scrapes.start()
        do {
            channel = try await MetricsServer.start(
                host: listen.host, port: listen.port, group: group, scrapes: scrapes, metrics: { gauges.scrape() },
                readiness: { readiness.status })
        } catch where config.explicitSettings["metrics.listen"] == nil {
            // Only the default address was taken (another broker on this host): a loud line,
            // not a broker that cannot start; one asked for explicitly must be served.
            logger.warning("no metrics listener: the default \(listen) is in use (\(error)); set metrics.listen or --metrics-listen")
            return nil
        } catch {
            throw BrokerConfigError("metrics.listen: cannot listen on \(listen): \(error)")
        }
        metricsChannel.set(channel)
        let bound = HostPort(host: listen.host, port: channel.localAddress?.port ?? listen.port)
        logger.info("metrics, health and readiness on http://\(bound) (/metrics, /healthz, /readyz)")
        return channel.localAddress
    }

    private let serverChannel = ManagedAtomicBox<(any Channel)?>(nil)

    /// Runs until graceful shutdown, with the retention and flush schedules.
    public func run() async throws {
        _ = try await startMetricsListener()
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
        // In a cluster, the partitions this broker leads go to other in-sync replicas first,
        // while it still answers (its clients are told NOT_LEADER_OR_FOLLOWER and move).
        if controller != nil, membership.mayLead() {
            await ControlledShutdown(store: store, view: view, brokerId: config.nodeId, logger: logger).run(replicas: replicas)
        }
        if let channel = serverChannel.get() { try? await channel.close() }
        if let channel = metricsChannel.get() { try? await channel.close() }
        replicas.waitingRoom.wakeAll()
        controller?.stop()
        await replicas.stopReplication()
        // Leaving ends the lease now: the controller moves leadership without waiting a TTL.
        await membership.leave()
        applier.stop()
        groups.stop()
        await store.close()
        await connections.closeAll(timeout: .seconds(10))
        // No fetch is left to read for: the read pool's threads can go.
        try? await logReads.shutdown()
        if metricsChannel.get() != nil { try? await scrapes.shutdownGracefully() }
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
