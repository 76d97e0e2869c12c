import Logging
import RunnelCluster
import RunnelProtocol
import RunnelStorage

/// What handlers may use of the broker.
struct HandlerContext: Sendable {
    let config: BrokerConfig
    let schema: TopicConfigSchema
    /// The applied metadata image (topics, partitions, brokers, controller).
    let metadata: MetadataView
    let replicas: ReplicaManager
    let logManager: LogManager
    let topics: TopicLifecycle
    let producerIds: ProducerIdAllocator
    let groups: GroupCoordinatorRuntime
    let elections: LeaderElections
    let reassignments: PartitionReassignments
    /// Where fetches wait for the disk instead of the event loop.
    let logReads: LogReadPool
    let metrics: BrokerMetrics
    let logger: Logger
    /// Commits from outside a group are admin resets, but also what consumers with manually
    /// assigned partitions send every auto-commit interval: one line per group per 10 s, with
    /// a count.
    let outsideCommitLog = LogLineRateLimiter(intervalMilliseconds: 10_000)

    init(broker: Broker) {
        config = broker.config
        schema = broker.schema
        metadata = broker.view
        replicas = broker.replicas
        logManager = broker.logManager
        topics = broker.topics
        producerIds = broker.producerIds
        groups = broker.groups
        let writer = PartitionStateWriter(store: broker.store, view: broker.view)
        elections = LeaderElections(writer: writer)
        reassignments = PartitionReassignments(writer: writer)
        logReads = broker.logReads
        metrics = broker.metrics
        logger = broker.logger
    }
}

extension HandlerContext {
    /// One info line per admin change (topics, partitions, configs, records, offsets), naming
    /// the client that made it, so the broker's log says who changed what.
    func logAdminChange(_ change: String, by request: RequestContext) {
        logger.info("admin: \(change) (client \(request.clientId ?? "-") at \(request.client))")
    }
}

/// The handlers this broker serves. ApiVersions is added by the broker, which needs the others'
/// ranges for its answer; everything a client can call is in this list.
enum HandlerRegistry {
    static func handlers(context: HandlerContext) -> [AnyAPIHandler] {
        [
            AnyAPIHandler(ProduceHandler(context: context)),
            AnyAPIHandler(FetchHandler(context: context)),
            AnyAPIHandler(ListOffsetsHandler(context: context)),
            AnyAPIHandler(OffsetForLeaderEpochHandler(context: context)),
            AnyAPIHandler(MetadataHandler(context: context)),
            AnyAPIHandler(CreateTopicsHandler(context: context)),
            AnyAPIHandler(DeleteTopicsHandler(context: context)),
            AnyAPIHandler(DeleteRecordsHandler(context: context)),
            AnyAPIHandler(InitProducerIdHandler(context: context)),
            AnyAPIHandler(DescribeConfigsHandler(context: context)),
            AnyAPIHandler(AlterConfigsHandler(context: context)),
            AnyAPIHandler(IncrementalAlterConfigsHandler(context: context)),
            AnyAPIHandler(CreatePartitionsHandler(context: context)),
            AnyAPIHandler(DescribeClusterHandler(context: context)),
            AnyAPIHandler(DescribeLogDirsHandler(context: context)),
            AnyAPIHandler(FindCoordinatorHandler(context: context)),
            AnyAPIHandler(JoinGroupHandler(context: context)),
            AnyAPIHandler(SyncGroupHandler(context: context)),
            AnyAPIHandler(HeartbeatHandler(context: context)),
            AnyAPIHandler(LeaveGroupHandler(context: context)),
            AnyAPIHandler(OffsetCommitHandler(context: context)),
            AnyAPIHandler(OffsetFetchHandler(context: context)),
            AnyAPIHandler(OffsetDeleteHandler(context: context)),
            AnyAPIHandler(ListGroupsHandler(context: context)),
            AnyAPIHandler(DescribeGroupsHandler(context: context)),
            AnyAPIHandler(DeleteGroupsHandler(context: context)),
            AnyAPIHandler(ElectLeadersHandler(context: context)),
            AnyAPIHandler(AlterPartitionReassignmentsHandler(context: context)),
            AnyAPIHandler(ListPartitionReassignmentsHandler(context: context)),
            AnyAPIHandler(ConsumerGroupHeartbeatHandler(context: context)),
            AnyAPIHandler(ConsumerGroupDescribeHandler(context: context)),
        ]
    }
}
