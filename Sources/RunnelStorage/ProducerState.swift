import RunnelProtocol

/// Idempotent-producer state of one partition (Kafka's ProducerStateManager): per producer
/// id, its epoch and the metadata of its last five batches, so a retried batch is answered
/// with the offsets it got the first time and a gap in sequences is refused.
///
/// Rebuilt at start-up from the latest snapshot (`<offset>.snapshot`, written at every roll
/// and clean close) plus the batches after it, so producers keep their guarantees across
/// restarts. A producer silent for `producer.id.expiration.ms` (by its batches' timestamps, as
/// in Kafka) is forgotten by `removeExpired`, so the map does not grow with every producer id
/// ever seen.
///
/// A value type: `PartitionLog` keeps it under its lock, and a roll takes a copy to write the
/// snapshot outside the lock.
public struct ProducerState: Sendable, Equatable {
    /// How many recent batches per producer are remembered for duplicate detection (Kafka's 5,
    /// matching max.in.flight.requests.per.connection).
    public static let batchesRemembered = 5

    struct BatchMetadata: Sendable, Equatable {
        var firstSequence: Int32
        var lastSequence: Int32
        var firstOffset: Int64
        var lastOffset: Int64
    }

    struct Entry: Sendable, Equatable {
        var epoch: Int16
        var batches: [BatchMetadata]
        /// The max timestamp of the producer's latest batch (Kafka's `lastTimestamp`): expiry
        /// counts from it.
        var lastTimestamp: Int64
    }

    private(set) var producers: [Int64: Entry] = [:]

    public init() {}

    /// What to do with a batch from an idempotent producer.
    public enum Verdict: Equatable, Sendable {
        case append
        /// A retry of a batch already stored: answer with its original offsets.
        case duplicate(firstOffset: Int64, lastOffset: Int64)
    }

    /// Checks a batch against the producer's state, before it gets offsets.
    public func check(_ header: RecordBatchHeader) throws(ProducerStateError) -> Verdict {
        guard header.producerId >= 0, header.baseSequence >= 0 else { return .append }
        guard let entry = producers[header.producerId] else { return .append }
        if header.producerEpoch < entry.epoch {
            throw ProducerStateError(
                .invalidProducerEpoch, "producer \(header.producerId) epoch \(header.producerEpoch) is older than \(entry.epoch)")
        }
        if header.producerEpoch == entry.epoch,
           let cached = entry.batches.first(where: {
               $0.firstSequence == header.baseSequence && $0.lastSequence == header.lastSequence
           }) {
            return .duplicate(firstOffset: cached.firstOffset, lastOffset: cached.lastOffset)
        }
        if header.producerEpoch > entry.epoch {
            guard header.baseSequence == 0 else {
                throw ProducerStateError(
                    .outOfOrderSequence, "producer \(header.producerId) started epoch \(header.producerEpoch) at sequence \(header.baseSequence), not 0")
            }
            return .append
        }
        let last = entry.batches.last?.lastSequence ?? -1
        let expected = last == Int32.max ? 0 : last + 1
        guard header.baseSequence == expected else {
            throw ProducerStateError(
                .outOfOrderSequence, "producer \(header.producerId) sent sequence \(header.baseSequence), expected \(expected)")
        }
        return .append
    }

    /// Records a batch that was appended with its assigned offsets.
    public mutating func update(_ header: RecordBatchHeader) {
        guard header.producerId >= 0, header.baseSequence >= 0 else { return }
        var entry = producers[header.producerId] ?? Entry(epoch: header.producerEpoch, batches: [], lastTimestamp: header.maxTimestamp)
        if header.producerEpoch != entry.epoch {
            entry = Entry(epoch: header.producerEpoch, batches: [], lastTimestamp: header.maxTimestamp)
        }
        entry.lastTimestamp = header.maxTimestamp
        entry.batches.append(BatchMetadata(
            firstSequence: header.baseSequence, lastSequence: header.lastSequence, firstOffset: header.baseOffset,
            lastOffset: header.lastOffset))
        if entry.batches.count > Self.batchesRemembered { entry.batches.removeFirst() }
        producers[header.producerId] = entry
    }

    /// The latest epoch seen for a producer.
    public func epoch(of producerId: Int64) -> Int16? { producers[producerId]?.epoch }

    /// How many producers are remembered.
    public var producerCount: Int { producers.count }

    /// The last offset of every remembered producer's latest batch: the log cleaner keeps those
    /// batches (emptied if need be), so a log rebuilt from its segments still knows each
    /// producer's epoch and last sequence (Kafka's `lastRecordsOfActiveProducers`).
    var lastBatchEndOffsets: Set<Int64> {
        Set(producers.values.compactMap { $0.batches.last?.lastOffset })
    }

    // MARK: Expiry

    /// Forgets every producer whose latest batch timestamp is `expirationMs` or more before
    /// `now` (Kafka's `ProducerStateManager.removeExpiredProducers`). A forgotten producer is
    /// an unknown one: its next batch is accepted with any sequence, as Kafka does. Returns
    /// how many were removed.
    @discardableResult
    public mutating func removeExpired(now: Int64, expirationMs: Int64) -> Int {
        let expired = producers.filter { _, entry in
            // Timestamps come from producers: the age may not fit an Int64. It overflows upwards
            // only for a timestamp far in the past (expired), downwards for one far in the future.
            let (age, overflow) = now.subtractingReportingOverflow(entry.lastTimestamp)
            return overflow ? entry.lastTimestamp < 0 : age >= expirationMs
        }.keys
        for id in expired { producers.removeValue(forKey: id) }
        return expired.count
    }

    // MARK: Snapshots

    /// First line of the snapshot text, so a file of another layout is refused (and the state
    /// rebuilt from the log) rather than misread.
    static let snapshotVersionLine = "producer-snapshot 2"

    /// Text form: a version line, then one line per producer,
    /// "id epoch lastTimestamp firstSeq lastSeq firstOffset lastOffset ...".
    func serialized() -> String {
        var text = Self.snapshotVersionLine + "\n"
        for (id, entry) in producers.sorted(by: { $0.key < $1.key }) {
            text += ([String(id), String(entry.epoch), String(entry.lastTimestamp)] + entry.batches.flatMap {
                [String($0.firstSequence), String($0.lastSequence), String($0.firstOffset), String($0.lastOffset)]
            }).joined(separator: " ")
            text += "\n"
        }
        return text
    }

    init(serialized text: String) throws(StorageError) {
        var lines = text.split(separator: "\n")[...]
        guard lines.popFirst() == Substring(Self.snapshotVersionLine) else {
            throw StorageError(.corruptFile, "producer snapshot without the '\(Self.snapshotVersionLine)' line")
        }
        for line in lines {
            let fields = line.split(separator: " ").map { Int64($0) }
            guard fields.count >= 3, (fields.count - 3) % 4 == 0, fields.allSatisfy({ $0 != nil }) else {
                throw StorageError(.corruptFile, "producer snapshot line '\(line)'")
            }
            let numbers = fields.map { $0! }
            guard let epoch = Int16(exactly: numbers[1]) else {
                throw StorageError(.corruptFile, "producer snapshot line '\(line)': epoch out of range")
            }
            var batches: [BatchMetadata] = []
            var index = 3
            while index < numbers.count {
                guard let first = Int32(exactly: numbers[index]), let last = Int32(exactly: numbers[index + 1]) else {
                    throw StorageError(.corruptFile, "producer snapshot line '\(line)': sequence out of range")
                }
                batches.append(BatchMetadata(
                    firstSequence: first, lastSequence: last, firstOffset: numbers[index + 2], lastOffset: numbers[index + 3]))
                index += 4
            }
            producers[numbers[0]] = Entry(epoch: epoch, batches: batches, lastTimestamp: numbers[2])
        }
    }
}

/// A produced batch the producer state refuses, with its Kafka error.
public struct ProducerStateError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable {
        let kafka: KafkaErrorCode
        public static let outOfOrderSequence = Code(kafka: .outOfOrderSequenceNumber)
        public static let invalidProducerEpoch = Code(kafka: .invalidProducerEpoch)
    }

    public let code: Code
    public let detail: String
    public var kafkaErrorCode: KafkaErrorCode { code.kafka }

    init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { detail }
}
