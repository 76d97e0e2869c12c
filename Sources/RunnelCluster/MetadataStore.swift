import RunnelProtocol

/// Where the cluster's metadata lives: the embedded single-broker file (the default) or etcd.
///
/// Writes are asynchronous and return the store revision they committed at; nobody acts on a
/// write's return value for state. The broker applies what arrives on `updates()` — its own
/// writes and everyone else's alike — and a writer that must see its change waits until the
/// applied image reaches the returned revision.
public protocol MetadataStore: AnyObject, Sendable {
    var clusterId: String { get }

    /// The latest image the store holds.
    func currentImage() -> MetadataImage

    /// Every image from the current one on, newer ones after older ones. Each call is a new
    /// subscription; it ends when the store is closed.
    func updates() -> AsyncStream<MetadataImage>

    /// Creates a topic with one state per partition; refused with TOPIC_ALREADY_EXISTS when
    /// the name is taken.
    func createTopic(_ topic: TopicMetadata, partitions: [PartitionState]) async throws -> Int64

    /// Deletes the topic and its partition states; UNKNOWN_TOPIC_OR_PARTITION when absent.
    func deleteTopic(named name: String) async throws -> Int64

    /// Adds partitions `topic.partitionCount ..< topic.partitionCount + added.count`; refused
    /// when the topic changed meanwhile (another grew it or it was recreated).
    func addPartitions(to topic: TopicMetadata, _ added: [PartitionState]) async throws -> Int64

    func setConfigs(topic name: String, to configs: [String: String]) async throws -> Int64

    /// Replaces a consumer group's config overrides; an empty set removes them. The group need
    /// not exist (Kafka keeps configs for groups that have not formed yet).
    func setConfigs(group groupId: String, to configs: [String: String]) async throws -> Int64

    /// Replaces a partition's state if its version is still `expected`. The only way leaders,
    /// epochs and ISRs change. (Versions are unique store-wide, so a recreated topic's
    /// partition never matches a version seen of the old one.)
    ///
    /// `ifGone`: the write also requires that broker to have no live registration — an
    /// election deposing a leader names it, so a stale view cannot depose a live leader.
    func compareAndSet(
        _ partition: TopicPartition, expected: Int64, to state: PartitionState, ifGone broker: Int32?
    ) async throws -> CompareAndSetResult

    /// Reserves the next `count` producer ids cluster-wide and returns the first.
    func allocateProducerIds(count: Int64) async throws -> Int64

    /// Registers this broker as live for as long as the returned lease is kept.
    func register(_ registration: BrokerRegistration) async throws -> any BrokerLease

    /// Stops watching and keeping leases alive; `updates()` streams end.
    func close() async
}

public enum CompareAndSetResult: Sendable, Equatable {
    case committed(revision: Int64)
    /// Someone else wrote first; this is what is there now (nil: the partition is gone).
    case conflict(VersionedPartitionState?)
}

/// This broker's registration in the cluster.
///
/// A broker must act as leader only while `isValid()`: once its lease may have expired, the
/// controller may already have given its partitions to another broker.
public protocol BrokerLease: Sendable {
    /// True while the lease is certainly still alive (checked before every acknowledgement).
    func isValid() -> Bool
    /// The store revision of the registration under this lease: until a broker has applied an
    /// image at least this new, what it knows predates its own (re)joining and may be stale.
    var registrationRevision: Int64 { get }
    /// Returns when the lease is lost (expired, revoked, or no longer renewable in time).
    func lost() async
    /// Ends the registration now (clean shutdown).
    func release() async
}
