#if canImport(Glibc)
import Glibc
#endif
import RunnelCluster

/// How many partitions this broker may host, and how many one request may add.
///
/// Every hosted partition keeps file descriptors open, and a broker that runs out of them
/// (EMFILE) fails everything at once: appends to other topics, new connections, even its next
/// start. So a CreateTopics or CreatePartitions that would pass a limit derived from
/// RLIMIT_NOFILE is refused before anything touches the disk. Both refusals answer
/// POLICY_VIOLATION: it is what Kafka's controller answers for too many partitions in one
/// request, and every client treats it as final (not retried) and shows its message, whereas
/// INVALID_PARTITIONS would say the count itself is malformed.
///
/// A value type with no state of its own: the limit is read at every check, so a limit raised
/// while the broker runs counts at once.
struct PartitionCapacity: Sendable {
    /// Kafka's controller refuses a request adding more partitions than this, over all its
    /// topics (`ReplicationControlManager.MAX_PARTITIONS_PER_BATCH`).
    static let maxPartitionsPerRequest = 10_000
    /// Descriptors a hosted partition keeps open: its active segment's `.log`, `.index` and
    /// `.timeindex`. Inactive segments open theirs only while they are read.
    static let descriptorsPerPartition = 3

    /// The process's descriptor limit (soft RLIMIT_NOFILE).
    var descriptorLimit: @Sendable () -> Int = DescriptorLimit.current

    /// Descriptors kept for everything but partitions: client connections, the event loops,
    /// partition directories opened to fsync them, snapshot and checkpoint files being written.
    /// A quarter of the limit, and at least 256.
    static func reservedDescriptors(limit: Int) -> Int { max(256, limit / 4) }

    /// The most partitions the broker may host under `limit` descriptors.
    static func maxPartitions(limit: Int) -> Int {
        max(0, (limit - reservedDescriptors(limit: limit)) / descriptorsPerPartition)
    }

    /// Refuses a request that adds `partitions` in total (Kafka's per-request cap).
    static func checkRequest(adding partitions: Int) throws(ClusterMetadataError) {
        guard partitions <= maxPartitionsPerRequest else {
            throw ClusterMetadataError(
                .policyViolation,
                "Excessively large number of partitions per request: \(partitions) requested, at most \(maxPartitionsPerRequest).")
        }
    }

    /// Refuses adding `partitions` to a broker hosting `hosted`, if the descriptors would not do.
    func checkRoom(adding partitions: Int, hosted: Int) throws(ClusterMetadataError) {
        let limit = descriptorLimit()
        let most = Self.maxPartitions(limit: limit)
        guard hosted + partitions <= most else {
            throw ClusterMetadataError(
                .policyViolation,
                "\(partitions) more partitions would make \(hosted + partitions) on this broker, more than the \(most) its file descriptor limit allows (RLIMIT_NOFILE \(limit): \(Self.descriptorsPerPartition) per partition, \(Self.reservedDescriptors(limit: limit)) kept for connections); raise the limit (ulimit -n, LimitNOFILE) or use fewer partitions.")
        }
    }
}

/// The process's open-file limit (RLIMIT_NOFILE).
public enum DescriptorLimit {
    /// The soft limit: what `open` and `accept` are held to.
    @Sendable public static func current() -> Int {
        var limits = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limits) == 0 else { return 1024 }
        return Int(clamping: limits.rlim_cur)
    }

    /// Raises the soft limit to the hard one, as the JVM does for Kafka at start-up: the soft
    /// limit (often 1024) is a default for interactive shells, far below what a broker with
    /// many partitions and connections needs. Returns the limits before and after.
    @discardableResult
    public static func raiseSoftLimitToHard() -> (before: Int, after: Int) {
        var limits = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limits) == 0 else { return (current(), current()) }
        let before = Int(clamping: limits.rlim_cur)
        guard limits.rlim_cur < limits.rlim_max else { return (before, before) }
        var raised = limits
        raised.rlim_cur = limits.rlim_max
        // An unlimited hard limit is refused by Linux for RLIMIT_NOFILE (it is capped by
        // fs.nr_open); then the soft limit stays where it was.
        guard setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) == 0 else { return (before, before) }
        return (before, current())
    }
}
