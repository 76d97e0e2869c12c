import Logging
import RunnelCluster
import RunnelProtocol
import Synchronization

/// Applies the metadata store's images to this broker, in order, whoever wrote them: first to
/// `ReplicaManager` (which partitions it hosts, in which role), then to the group coordinator
/// (which `__consumer_offsets` partitions it loads), then publishes them to the `MetadataView`
/// the handlers read. So a partition a handler sees in the view is hosted.
///
/// Concurrency: one task consumes `store.updates()`; `applyNow` runs only before that task
/// starts (start-up) or on it, so images are applied one at a time.
final class MetadataApplier: Sendable {
    private let store: any MetadataStore
    private let view: MetadataView
    private let replicas: ReplicaManager
    private let schema: TopicConfigSchema
    private let groups: GroupCoordinatorRuntime
    private let logger: Logger
    private let task = Mutex<Task<Void, Never>?>(nil)
    /// Partitions whose logs failed to open at the last apply: logged once, not at every image.
    private let failing = Mutex<Set<TopicPartition>>([])

    init(
        store: any MetadataStore, view: MetadataView, replicas: ReplicaManager, schema: TopicConfigSchema,
        groups: GroupCoordinatorRuntime, logger: Logger
    ) {
        self.store = store
        self.groups = groups
        self.view = view
        self.replicas = replicas
        self.schema = schema
        self.logger = logger
    }

    /// Applies `image` unless a newer one was applied already.
    func applyNow(_ image: MetadataImage) {
        guard image.revision >= view.image.revision else { return }
        let schema = schema
        let failures = replicas.apply(
            image, logConfig: { schema.logConfig($0.configs) }, minInsyncReplicas: { schema.produceSettings($0.configs).minInsyncReplicas })
        let failed = Set(failures.map(\.0))
        let new = failing.withLock { known in
            defer { known = failed }
            return failures.filter { !known.contains($0.0) }
        }
        // A partition whose log cannot be opened (a blocked directory, no descriptors left)
        // must not keep the others from being served: it stays unhosted and is reported.
        for (topicPartition, error) in new {
            logger.error("partition \(topicPartition) cannot be opened, serving the others: \(error)")
        }
        // Group coordinator shards follow the leadership of their partitions.
        groups.reconcile(with: image)
        view.publish(image)
    }

    /// Follows the store from now on.
    func start() {
        let updates = store.updates()
        let started = Task { [self] in
            for await image in updates { applyNow(image) }
        }
        task.withLock { $0 = started }
    }

    func stop() {
        task.withLock { $0?.cancel() }
    }
}
