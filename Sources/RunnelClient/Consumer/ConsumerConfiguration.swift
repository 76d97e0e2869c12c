import NIOCore
import RunnelProtocol

/// Where a consumer starts when a partition has no committed offset, or its offset is out of
/// range (`auto.offset.reset`).
public enum OffsetResetPolicy: String, Sendable {
    case earliest, latest
    /// Fail instead of guessing.
    case none
}

/// Consumer settings, named after the Java consumer's configs.
public struct ConsumerConfiguration: Sendable {
    public var client: ClientConfiguration
    /// `group.id`: nil consumes without a group (`assign` only, no commits).
    public var groupId: String?
    /// `group.instance.id`: static membership.
    public var groupInstanceId: String?
    public var autoOffsetReset: OffsetResetPolicy = .latest
    /// `enable.auto.commit`: positions are committed every `autoCommitInterval`, before a
    /// rebalance and on close.
    public var enableAutoCommit: Bool = true
    public var autoCommitInterval: TimeAmount = .seconds(5)
    public var sessionTimeout: TimeAmount = .seconds(45)
    public var heartbeatInterval: TimeAmount = .seconds(3)
    /// `max.poll.interval.ms`, sent as the rebalance timeout.
    public var maxPollInterval: TimeAmount = .minutes(5)
    public var fetchMinBytes: Int32 = 1
    public var fetchMaxBytes: Int32 = 52_428_800
    public var maxPartitionFetchBytes: Int32 = 1_048_576
    /// `fetch.max.wait.ms`: how long the broker may hold a fetch that has less than `fetchMinBytes`.
    public var fetchMaxWait: TimeAmount = .milliseconds(500)
    /// `partition.assignment.strategy`, in preference order.
    public var assignors: [PartitionAssignor] = [.range, .roundRobin]

    public init(client: ClientConfiguration, groupId: String? = nil) {
        self.client = client
        self.groupId = groupId
    }
}

/// A record as consumed, with where it was stored.
public struct ConsumerRecord: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// Milliseconds since the epoch.
    public var timestamp: Int64
    public var timestampType: TimestampType
    public var key: ByteBuffer?
    public var value: ByteBuffer?
    public var headers: [RecordHeader]
    public var leaderEpoch: Int32

    public var topicPartition: TopicPartition { TopicPartition(topic: topic, partition: partition) }
}
