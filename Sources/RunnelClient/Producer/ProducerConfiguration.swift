import NIOCore
import RunnelCodecs
import RunnelProtocol

/// How many acknowledgements a produce request waits for (`acks`).
public enum Acks: Int16, Sendable, CustomStringConvertible {
    /// acks=0: the broker never answers; offsets are unknown (-1).
    case none = 0
    /// acks=1: the leader appended it.
    case leader = 1
    /// acks=all (-1): every in-sync replica has it.
    case all = -1

    public init?(name: String) {
        switch name.lowercased() {
        case "0": self = .none
        case "1": self = .leader
        case "all", "-1": self = .all
        default: return nil
        }
    }

    public var description: String { self == .all ? "all" : "\(rawValue)" }
}

/// Producer settings, named after the Java producer's configs.
public struct ProducerConfiguration: Sendable {
    public var client: ClientConfiguration
    /// `acks`; Kafka's default since 3.0 is all.
    public var acks: Acks = .all
    /// `compression.type`.
    public var compression: CompressionCodec = .none
    /// `batch.size`: a partition's batch is sent once it holds this many bytes (before compression).
    public var batchSize: Int = 16384
    /// `linger.ms`: how long a batch that is not full waits for more records.
    public var linger: TimeAmount = .milliseconds(5)
    /// `max.request.size`: the largest produce request, and so the largest record.
    public var maxRequestSize: Int = 1_048_576
    /// `buffer.memory`: records waiting to be sent beyond this make `send` wait.
    public var bufferMemory: Int = 32 * 1_048_576
    /// `max.in.flight.requests.per.connection`.
    public var maxInFlightRequestsPerConnection: Int = 5
    /// `retries`: how often a batch is sent again after a retriable error.
    public var retries: Int = Int.max
    /// `delivery.timeout.ms`: a record not acknowledged this long after `send` fails.
    public var deliveryTimeout: TimeAmount = .minutes(2)
    /// `enable.idempotence`: producer id and sequence numbers, so retries never duplicate or
    /// reorder. Needs acks=all; turned off with a warning when the broker lacks InitProducerId.
    public var enableIdempotence: Bool = true

    public init(client: ClientConfiguration) {
        self.client = client
    }

    func validate() throws {
        if enableIdempotence && acks != .all {
            throw KafkaClientError.invalidConfiguration("enable.idempotence needs acks=all (or set enable.idempotence=false)")
        }
        if batchSize < 1 || maxRequestSize < 1 || maxInFlightRequestsPerConnection < 1 {
            throw KafkaClientError.invalidConfiguration("batch.size, max.request.size and max.in.flight.requests.per.connection must be positive")
        }
    }
}

/// A record to send. A nil `partition` lets the partitioner choose: by key hash when there is a
/// key, sticky otherwise.
public struct ProducerRecord: Sendable {
    public var topic: String
    public var partition: Int32?
    public var key: ByteBuffer?
    public var value: ByteBuffer?
    public var headers: [RecordHeader]
    /// Milliseconds since the epoch; nil stamps the time of `send`.
    public var timestamp: Int64?

    public init(topic: String, partition: Int32? = nil, key: ByteBuffer? = nil, value: ByteBuffer?, headers: [RecordHeader] = [], timestamp: Int64? = nil) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }

    public init(topic: String, partition: Int32? = nil, key: String? = nil, value: String?, headers: [RecordHeader] = [], timestamp: Int64? = nil) {
        self.init(topic: topic, partition: partition, key: key.map { ByteBuffer(string: $0) }, value: value.map { ByteBuffer(string: $0) },
                  headers: headers, timestamp: timestamp)
    }

    /// The bytes this record adds to a batch, roughly (varints at their widest).
    var estimatedSize: Int {
        var size = 21 + (key?.readableBytes ?? 0) + (value?.readableBytes ?? 0)
        for header in headers {
            size += 10 + header.key.utf8.count + (header.value?.readableBytes ?? 0)
        }
        return size
    }
}

/// Where an acknowledged record was stored.
public struct RecordMetadata: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    /// -1 with acks=0, or when a retry was recognised as a duplicate of a stored batch.
    public var offset: Int64
    /// CreateTime as sent, or the broker's LogAppendTime when the topic uses it.
    public var timestamp: Int64
}
