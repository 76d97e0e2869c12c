import Foundation
import Logging
import RunnelProtocol
import Synchronization

/// The cluster metadata in etcd v3 (see `EtcdKeyLayout` for the keys): the store every broker
/// of a cluster shares.
///
/// Reads are local: the store loads every key under its prefix once, then follows a watch
/// from the revision after that read, and keeps the image current (a compacted or broken
/// watch re-reads everything and resumes, so no change is ever skipped unknowingly). Writes
/// are transactions that compare what they replace (create revision 0 for "absent", mod
/// revision for "unchanged since I read it"), so concurrent writers never both win.
///
/// Concurrency: the decoded facts sit in a `Mutex`, the images in an `ImageBroadcast`; one
/// watch task updates both (facts under their lock while the image is published, so they
/// always match); writes may come from any task.
public final class EtcdMetadataStore: MetadataStore, Sendable {
    public let client: EtcdClient
    let keys: EtcdKeyLayout
    public let clusterId: String
    /// The TTL of the brokers' leases (`metadata.lease.ttl.ms`, in whole seconds).
    public let leaseTTLSeconds: Int64
    let logger: Logger
    /// The facts behind the latest image; only the watch task (or the first load) writes them.
    private let facts = Mutex(Facts())
    private let broadcast: ImageBroadcast
    private let watcher = Mutex<Task<Void, Never>?>(nil)

    /// What the keys hold, decoded, with the revisions writes compare.
    struct Facts {
        var topics: [String: (topic: TopicMetadata, version: Int64)] = [:]
        var partitions: [KafkaUUID: [Int32: VersionedPartitionState]] = [:]
        var brokers: [Int32: (registration: BrokerRegistration, lease: Int64)] = [:]
        /// The controller and its epoch (the create revision of its key: new at every election).
        var controller: (brokerId: Int32, epoch: Int64)?
        var groupConfigs: [String: [String: String]] = [:]
    }


    /// How a broker meets the cluster id in etcd.
    public enum Founding: Sendable {
        /// A broker with fresh data directories: founds the cluster with this id if etcd holds
        /// none under the prefix, else joins the one there.
        case mayFound(proposedClusterId: String)
        /// A broker whose data directories already belong to this cluster: etcd must hold it.
        /// Founding an empty cluster would make every log on disk a stray to delete — a wiped
        /// etcd or a mistyped prefix must stop the broker instead.
        case mustExist(recordedClusterId: String)
    }

    /// Connects, agrees on the cluster id (see `Founding`) and loads the metadata. Throws if
    /// etcd cannot be reached or holds no cluster a recorded broker belongs to.
    public static func connect(
        endpoints: [String], prefix: String = "/runnel", founding: Founding, leaseTTLSeconds: Int64 = 2, logger: Logger
    ) async throws -> EtcdMetadataStore {
        let client = EtcdClient(endpoints: endpoints)
        let keys = EtcdKeyLayout(prefix: prefix)
        let clusterId: String?
        switch founding {
        case .mayFound(let proposed):
            let result = try await client.transaction(
                if: [.createRevision(key: keys.clusterId, equals: 0)],
                then: [.put(key: keys.clusterId, value: Array(proposed.utf8))],
                else: [.get(key: keys.clusterId)])
            clusterId = result.succeeded ? proposed : result.reads.first?.first.map { String(decoding: $0.value, as: UTF8.self) }
        case .mustExist(let recorded):
            guard let existing = try await client.get(keys.clusterId).value else {
                throw ClusterMetadataError(
                    .unknownServerError,
                    "etcd (\(endpoints.joined(separator: ","))) holds no cluster under \(keys.prefix), but this broker's data belongs to cluster \(recorded): refusing to found an empty cluster, which would delete every log here (a wiped etcd or a wrong prefix?)")
            }
            clusterId = String(decoding: existing.value, as: UTF8.self)
        }
        guard let clusterId, !clusterId.isEmpty else {
            throw ClusterMetadataError(.unknownServerError, "etcd holds no readable cluster id at \(keys.clusterId)")
        }
        let store = EtcdMetadataStore(client: client, keys: keys, clusterId: clusterId, leaseTTLSeconds: leaseTTLSeconds, logger: logger)
        let revision = try await store.reload()
        store.follow(from: revision + 1)
        return store
    }

    private init(client: EtcdClient, keys: EtcdKeyLayout, clusterId: String, leaseTTLSeconds: Int64, logger: Logger) {
        self.leaseTTLSeconds = leaseTTLSeconds
        self.client = client
        self.keys = keys
        self.clusterId = clusterId
        self.logger = logger
        broadcast = ImageBroadcast(MetadataImage(clusterId: clusterId, revision: 0))
    }

    // MARK: Reading

    public func currentImage() -> MetadataImage { broadcast.latest }

    /// The decoded facts, for writes that compare revisions.
    func currentFacts() -> Facts { facts.withLock { $0 } }

    public func updates() -> AsyncStream<MetadataImage> { broadcast.subscribe() }

    /// Reads every key under the prefix and replaces the facts; returns the read's revision.
    @discardableResult
    func reload() async throws -> Int64 {
        let (values, revision) = try await client.get(prefix: keys.root)
        var loaded = Facts()
        for value in values { apply(.put(value), to: &loaded) }
        publish(loaded, revision: revision)
        return revision
    }

    /// Follows the watch from `revision`; on any failure re-reads and follows again, until closed.
    private func follow(from revision: Int64) {
        let task = Task { [weak self] in
            // Where the next watch resumes: after the last revision the watch delivered.
            let next = LockedValue(revision)
            while !Task.isCancelled, let self {
                do {
                    try await self.watch(from: next.value) { response in
                        self.applyWatch(response)
                        next.value = response.revision + 1
                    }
                } catch {
                    if Task.isCancelled { return }
                    self.logger.warning("etcd watch of \(self.keys.root) failed, re-reading: \(error)")
                }
                // Re-read everything: whatever the watch missed is in the read.
                var backoff = Duration.milliseconds(100)
                while !Task.isCancelled {
                    do {
                        next.value = try await self.reload() + 1
                        break
                    } catch {
                        try? await Task.sleep(for: backoff)
                        backoff = min(backoff * 2, .seconds(2))
                    }
                }
            }
        }
        watcher.withLock { $0 = task }
    }

    /// A watch that says nothing for this long is presumed dead (its etcd member may have
    /// crashed with the connection left half-open) and replaced by a fresh read and watch.
    /// Progress notifications (etcd's `--experimental-watch-progress-notify-interval`, set to
    /// a few seconds by `runnel cluster start`) keep a healthy quiet watch under it; with
    /// etcd's default of ten minutes a quiet cluster is simply re-read this often.
    static let watchIdleLimit = Duration.seconds(30)

    /// Follows one watch until it fails, ends, or stays silent past `watchIdleLimit`.
    private func watch(from revision: Int64, _ apply: @escaping @Sendable (EtcdWatchResponse) -> Void) async throws {
        let lastHeard = LockedValue(ContinuousClock.now)
        let stream = client.watch(prefix: keys.root, fromRevision: revision)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await response in stream {
                    lastHeard.value = .now
                    apply(response)
                }
            }
            group.addTask {
                while true {
                    try await Task.sleep(for: Self.watchIdleLimit / 4)
                    if ContinuousClock.now - lastHeard.value > Self.watchIdleLimit {
                        throw EtcdError(.unavailable, "the watch of \(self.keys.root) was silent for \(Self.watchIdleLimit)")
                    }
                }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    private func applyWatch(_ response: EtcdWatchResponse) {
        var next = currentFacts()
        for event in response.events { apply(event, to: &next) }
        publish(next, revision: response.revision)
    }

    /// Folds one key change into the facts; a value that does not decode is logged and skipped
    /// (never guessed at).
    private func apply(_ event: EtcdWatchEvent, to facts: inout Facts) {
        let (keyValue, deleted): (EtcdKeyValue, Bool)
        switch event {
        case .put(let value): (keyValue, deleted) = (value, false)
        case .delete(let value): (keyValue, deleted) = (value, true)
        }
        let decoder = JSONDecoder()
        let data = Data(keyValue.value)
        do {
            switch keys.entry(keyValue.key) {
            case .broker(let id):
                facts.brokers[id] = deleted ? nil : (try decoder.decode(BrokerRegistration.self, from: data), keyValue.lease)
            case .topic(let name):
                facts.topics[name] = deleted ? nil : (try decoder.decode(TopicMetadata.self, from: data), keyValue.modRevision)
            case .partition(let topicId, let index):
                if deleted {
                    facts.partitions[topicId]?[index] = nil
                    if facts.partitions[topicId]?.isEmpty == true { facts.partitions[topicId] = nil }
                } else {
                    let state = try decoder.decode(PartitionState.self, from: data)
                    facts.partitions[topicId, default: [:]][index] = VersionedPartitionState(state: state, version: keyValue.modRevision)
                }
            case .controller:
                facts.controller = deleted ? nil : (try decoder.decode(ControllerRecord.self, from: data).brokerId, keyValue.createRevision)
            case .groupConfigs(let groupId):
                facts.groupConfigs[groupId] = deleted ? nil : try decoder.decode([String: String].self, from: data)
            case .clusterId, .producerIds, .unknown:
                break
            }
        } catch {
            logger.error("etcd key \(keyValue.key) does not hold what Runnel wrote there, ignored: \(error)")
        }
    }

    /// Builds the image of `facts` and hands it to every subscriber.
    private func publish(_ next: Facts, revision: Int64) {
        var partitions: [TopicPartition: VersionedPartitionState] = [:]
        var topics: [String: TopicMetadata] = [:]
        for (name, entry) in next.topics {
            topics[name] = entry.topic
            // Partitions of a topic count only up to its partition count: a growth writes the
            // new partition states before the topic, and they appear with it.
            for (index, versioned) in next.partitions[entry.topic.id] ?? [:] where index < entry.topic.partitionCount {
                partitions[TopicPartition(topic: name, partition: index)] = versioned
            }
        }
        let image = MetadataImage(
            clusterId: clusterId, revision: revision, topicsByName: topics, partitions: partitions,
            brokers: next.brokers.mapValues(\.registration), controllerId: next.controller?.brokerId,
            groupConfigs: next.groupConfigs)
        facts.withLock { facts in
            // An older picture never replaces a newer one.
            if broadcast.publish(image, if: { revision >= $0.revision }) { facts = next }
        }
    }

    public func close() async {
        watcher.withLock { $0?.cancel() }
        broadcast.finish()
    }

    static func json<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding our own plain structs cannot fail.
        return Array((try? encoder.encode(value)) ?? Data())
    }
}
