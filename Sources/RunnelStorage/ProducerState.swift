import RunnelProtocol

/// Idempotent-producer state of one partition (Kafka's ProducerStateManager): per producer
/// id, its epoch and the metadata of its last five batches, so a retried batch is answered
/// with the offsets it got the first time and a gap in sequences is refused.
///
/// Rebuilt at start-up from the latest snapshot (`<offset>.snapshot`, written at every roll
/// and clean close) plus the batches after it, so producers keep their guarantees across
/// restarts.
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
        var entry = producers[header.producerId] ?? Entry(epoch: header.producerEpoch, batches: [])
        if header.producerEpoch != entry.epoch {
            entry = Entry(epoch: header.producerEpoch, batches: [])
        }
        entry.batches.append(BatchMetadata(
            firstSequence: header.baseSequence, lastSequence: header.lastSequence, firstOffset: header.baseOffset,
            lastOffset: header.lastOffset))
        if entry.batches.count > Self.batchesRemembered { entry.batches.removeFirst() }
        producers[header.producerId] = entry
    }

    /// The latest epoch seen for a producer (InitProducerId bumps from it).
    public func epoch(of producerId: Int64) -> Int16? { producers[producerId]?.epoch }

    // MARK: Snapshots

    /// Text form: one line per producer, "id epoch firstSeq lastSeq firstOffset lastOffset ...".
    func serialized() -> String {
        producers.sorted { $0.key < $1.key }.map { id, entry in
            ([String(id), String(entry.epoch)] + entry.batches.flatMap {
                [String($0.firstSequence), String($0.lastSequence), String($0.firstOffset), String($0.lastOffset)]
            }).joined(separator: " ")
        }.joined(separator: "\n") + "\n"
    }

    init(serialized text: String) throws(StorageError) {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ").map { Int64($0) }
            guard fields.count >= 2, (fields.count - 2) % 4 == 0, fields.allSatisfy({ $0 != nil }) else {
                throw StorageError(.corruptFile, "producer snapshot line '\(line)'")
            }
            let numbers = fields.map { $0! }
            var batches: [BatchMetadata] = []
            var index = 2
            while index < numbers.count {
                batches.append(BatchMetadata(
                    firstSequence: Int32(truncatingIfNeeded: numbers[index]), lastSequence: Int32(truncatingIfNeeded: numbers[index + 1]),
                    firstOffset: numbers[index + 2], lastOffset: numbers[index + 3]))
                index += 4
            }
            producers[numbers[0]] = Entry(epoch: Int16(truncatingIfNeeded: numbers[1]), batches: batches)
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
