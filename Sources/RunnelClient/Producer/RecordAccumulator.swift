import NIOConcurrencyHelpers
import NIOCore
import RunnelProtocol

/// Collects records into per-partition batches and decides when each batch is sent: when it is
/// full, when it has lingered `linger.ms`, or at once during `flush` and `close`. The producer's
/// callers append under one lock; the sender drains. It also keeps what must stay per partition
/// across requests: the next sequence number and how many batches are in flight.
final class RecordAccumulator: Sendable {
    private let configuration: ProducerConfiguration
    private let state = NIOLockedValueBox(State())

    /// One topic's open batches, indexed by partition: one dictionary lookup per record. A class
    /// so that appending changes it in place; only touched under the accumulator's lock.
    private final class TopicBatches: @unchecked Sendable {
        var partitionCount: Int
        var sticky = StickyPartition()
        var open: [ProducerBatch?]

        init(partitionCount: Int) {
            self.partitionCount = partitionCount
            open = Array(repeating: nil, count: partitionCount)
        }
    }

    private struct State {
        var topics: [String: TopicBatches] = [:]
        /// Closed batches waiting to be sent, oldest (lowest sequence) first; retries go back in front.
        var ready: [TopicPartition: [ProducerBatch]] = [:]
        /// Batches of each partition on the wire: how many, to which broker, with which sequences.
        var inFlight: [TopicPartition: PartitionInFlight] = [:]
        var inFlightPerBroker: [Int32: Int] = [:]
        var nextSequence: [TopicPartition: Int32] = [:]
        var bufferedBytes = 0
        /// Ids of the batches not yet acknowledged or failed (ids grow with creation).
        var unfinished: Set<Int> = []
        var nextBatchId = 0
        var unfinishedBatches: Int { unfinished.count }
        var flushes = 0
        var closing = false
        var spaceWaiters: [CheckedContinuation<Void, Never>] = []
        /// Flushes waiting for every batch up to an id to finish.
        var flushWaiters: [(upTo: Int, continuation: CheckedContinuation<Void, Never>)] = []
        var senderWaiter: CheckedContinuation<Void, Never>?
        var senderSignalled = false
    }

    struct PartitionInFlight {
        var count = 0
        var node: Int32 = -1
        var sequences: Set<Int32> = []
    }

    init(configuration: ProducerConfiguration) {
        self.configuration = configuration
    }

    // MARK: Appending (any caller)

    enum AppendOutcome {
        case appended
        /// The topic's partition count is unknown: fetch metadata and append again.
        case needsMetadata
        /// `buffer.memory` is used up: wait for space and append again.
        case bufferFull
    }

    func append(_ record: ProducerRecord, timestamp: Int64, callback: DeliveryCallback?) throws -> AppendOutcome {
        let size = record.estimatedSize
        if size + RecordBatchHeader.size > configuration.maxRequestSize {
            throw KafkaClientError.broker(.messageTooLarge, "a record of about \(size) bytes exceeds max.request.size \(configuration.maxRequestSize)")
        }
        var signal = false
        let capacity = min(configuration.batchSize, configuration.maxRequestSize)
        let outcome: AppendOutcome = try state.withLockedValue { state in
            if state.closing { throw KafkaClientError.closed }
            guard let topic = state.topics[record.topic] else { return .needsMetadata }
            if state.bufferedBytes > 0, state.bufferedBytes + size > configuration.bufferMemory { return .bufferFull }
            let partitions = topic.partitionCount
            let partition: Int32
            if let chosen = record.partition {
                guard chosen >= 0, Int(chosen) < partitions else { throw KafkaClientError.unknownPartition(record.topic, chosen) }
                partition = chosen
            } else if let key = record.key {
                partition = KeyPartitioner.partition(forKey: key, partitions: partitions)
            } else {
                partition = topic.sticky.partition(among: partitions)
            }
            let index = Int(partition)
            if let batch = topic.open[index], batch.recordCount > 0, batch.sizeInBytes + size > configuration.batchSize {
                Self.close(batch, of: topic, readyQueues: &state.ready)
                signal = true
            }
            let batch: ProducerBatch
            if let open = topic.open[index] {
                batch = open
            } else {
                batch = ProducerBatch(
                    id: state.nextBatchId, topicPartition: TopicPartition(topic: record.topic, partition: partition),
                    compression: configuration.compression, capacity: capacity, now: .now())
                state.nextBatchId += 1
                topic.open[index] = batch
                state.unfinished.insert(batch.id)
                signal = true  // the sender must learn this batch's linger deadline
            }
            batch.append(record, timestamp: timestamp, reserving: size, callback: callback)
            state.bufferedBytes += size
            if batch.sizeInBytes >= configuration.batchSize {
                Self.close(batch, of: topic, readyQueues: &state.ready)
                signal = true
            }
            return .appended
        }
        if signal { wakeSender() }
        return outcome
    }

    private static func close(_ batch: ProducerBatch, of topic: TopicBatches, readyQueues: inout [TopicPartition: [ProducerBatch]]) {
        let topicPartition = batch.topicPartition
        topic.open[Int(topicPartition.partition)] = nil
        readyQueues[topicPartition, default: []].append(batch)
        topic.sticky.batchClosed(partition: topicPartition.partition, among: topic.partitionCount)
    }

    /// Learns (or relearns, after partitions were added) how many partitions `topic` has.
    func setPartitionCount(_ count: Int, for topic: String) {
        state.withLockedValue { state in
            guard let batches = state.topics[topic] else {
                state.topics[topic] = TopicBatches(partitionCount: count)
                return
            }
            guard count > batches.partitionCount else { return }
            batches.open += Array(repeating: nil, count: count - batches.partitionCount)
            batches.partitionCount = count
        }
    }

    func waitForSpace() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLockedValue { state -> Bool in
                if state.bufferedBytes < configuration.bufferMemory / 2 || state.unfinishedBatches == 0 { return true }
                state.spaceWaiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    // MARK: Flush and close

    /// Sends every batch now and returns once every record appended before the call is
    /// acknowledged or failed (records appended meanwhile do not hold it up).
    func flush() async {
        state.withLockedValue { $0.flushes += 1 }
        wakeSender()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLockedValue { state -> Bool in
                let upTo = state.nextBatchId - 1
                if Self.finishedAll(upTo: upTo, in: state) { return true }
                state.flushWaiters.append((upTo, continuation))
                return false
            }
            if done { continuation.resume() }
        }
        state.withLockedValue { $0.flushes -= 1 }
    }

    private static func finishedAll(upTo id: Int, in state: State) -> Bool {
        !state.unfinished.contains { $0 <= id }
    }

    /// No more appends; what is buffered is still sent.
    func beginClosing() {
        state.withLockedValue { $0.closing = true }
        wakeSender()
    }

    // MARK: Draining (the sender)

    struct Drained {
        /// Batches to send, grouped by the broker leading their partitions.
        var requests: [Int32: [ProducerBatch]] = [:]
        /// Partitions that have data but no known leader.
        var unknownLeaders: Set<String> = []
        /// When the next open batch finishes lingering.
        var nextDeadline: NIODeadline?
        /// Closing and nothing left.
        var finished = false
        /// A batch with a sequence number expired: the producer's sequences now have a gap.
        var expiredWithSequence = false
    }

    /// Takes the batches that may go now. `leader` maps a partition to its leader's node id.
    func drain(now: NIODeadline, idempotent: Bool, leader: (TopicPartition) -> Int32?) -> Drained {
        var expired: [ProducerBatch] = []
        let drained = state.withLockedValue { state -> Drained in
            var drained = Drained()
            let sendEverything = state.flushes > 0 || state.closing
            for topic in state.topics.values {
                for case let batch? in topic.open {
                    let deadline = batch.createdAt + configuration.linger
                    if sendEverything || deadline <= now {
                        Self.close(batch, of: topic, readyQueues: &state.ready)
                    } else if drained.nextDeadline.map({ deadline < $0 }) ?? true {
                        drained.nextDeadline = deadline
                    }
                }
            }
            var requestBytes: [Int32: Int] = [:]
            for (topicPartition, queue) in state.ready where !queue.isEmpty {
                var queue = queue
                while let first = queue.first, first.createdAt + configuration.deliveryTimeout <= now {
                    expired.append(queue.removeFirst())
                }
                state.ready[topicPartition] = queue
                guard let batch = queue.first else { continue }
                if let retryAt = batch.retryAt, retryAt > now {
                    if drained.nextDeadline.map({ retryAt < $0 }) ?? true { drained.nextDeadline = retryAt }
                    continue
                }
                guard let node = leader(topicPartition) else {
                    drained.unknownLeaders.insert(topicPartition.topic)
                    continue
                }
                // An idempotent producer keeps each partition's sequences in order on the wire: a
                // retried batch goes alone, and nothing goes to a new leader while the old one
                // still has batches of the partition in flight.
                let inFlight = state.inFlight[topicPartition, default: PartitionInFlight()]
                if idempotent && inFlight.count > 0 && (batch.attempts > 0 || inFlight.node != node) { continue }
                if idempotent && inFlight.count >= configuration.maxInFlightRequestsPerConnection { continue }
                if state.inFlightPerBroker[node, default: 0] >= configuration.maxInFlightRequestsPerConnection { continue }
                let size = batch.sizeInBytes
                let used = requestBytes[node, default: 0]
                if used > 0 && used + size > configuration.maxRequestSize { continue }
                requestBytes[node] = used + size
                queue.removeFirst()
                state.ready[topicPartition] = queue
                if idempotent && batch.baseSequence == nil {
                    let sequence = state.nextSequence[topicPartition, default: 0]
                    batch.baseSequence = sequence
                    state.nextSequence[topicPartition] = (sequence &+ Int32(batch.recordCount)) & Int32.max
                }
                state.inFlight[topicPartition, default: PartitionInFlight()].count += 1
                state.inFlight[topicPartition]!.node = node
                if let sequence = batch.baseSequence { state.inFlight[topicPartition]!.sequences.insert(sequence) }
                drained.requests[node, default: []].append(batch)
            }
            for node in drained.requests.keys { state.inFlightPerBroker[node, default: 0] += 1 }
            drained.finished = state.closing && state.unfinishedBatches == expired.count && drained.requests.isEmpty
            return drained
        }
        var result = drained
        for batch in expired {
            if batch.baseSequence != nil { result.expiredWithSequence = true }
            batch.fail(KafkaClientError.broker(.requestTimedOut, "\(batch.topicPartition): not acknowledged within delivery.timeout.ms"))
            finish(batch, inFlight: false)
        }
        return result
    }

    /// A request to `node` completed (whatever its outcome).
    func requestCompleted(node: Int32) {
        state.withLockedValue { $0.inFlightPerBroker[node, default: 1] -= 1 }
        wakeSender()
    }

    /// A batch is acknowledged or has failed for good: release its memory.
    func finish(_ batch: ProducerBatch, inFlight: Bool = true) {
        let (spaceWaiters, flushed) = state.withLockedValue { state -> ([CheckedContinuation<Void, Never>], [CheckedContinuation<Void, Never>]) in
            if inFlight { Self.leaveFlight(batch, in: &state) }
            state.bufferedBytes -= batch.reservedBytes
            state.unfinished.remove(batch.id)
            var space: [CheckedContinuation<Void, Never>] = []
            if state.bufferedBytes < configuration.bufferMemory / 2 || state.unfinishedBatches == 0 {
                space = state.spaceWaiters
                state.spaceWaiters.removeAll()
            }
            var flushed: [CheckedContinuation<Void, Never>] = []
            if !state.flushWaiters.isEmpty {
                let waiters = state.flushWaiters
                state.flushWaiters = waiters.filter { !Self.finishedAll(upTo: $0.upTo, in: state) }
                flushed = waiters.filter { Self.finishedAll(upTo: $0.upTo, in: state) }.map(\.continuation)
            }
            return (space, flushed)
        }
        for waiter in spaceWaiters { waiter.resume() }
        for waiter in flushed { waiter.resume() }
        if !flushed.isEmpty { wakeSender() }
    }

    /// A batch failed with a retriable error: back to the front of its partition's queue, in
    /// sequence order.
    func requeue(_ batch: ProducerBatch) {
        state.withLockedValue { state in
            Self.leaveFlight(batch, in: &state)
            var queue = state.ready[batch.topicPartition, default: []]
            let position = queue.firstIndex { other in
                guard let mine = batch.baseSequence, let theirs = other.baseSequence else { return other.attempts == 0 }
                return theirs > mine
            } ?? queue.endIndex
            queue.insert(batch, at: position)
            state.ready[batch.topicPartition] = queue
        }
    }

    private static func leaveFlight(_ batch: ProducerBatch, in state: inout State) {
        let topicPartition = batch.topicPartition
        guard var entry = state.inFlight[topicPartition] else { return }
        entry.count -= 1
        if let sequence = batch.baseSequence { entry.sequences.remove(sequence) }
        state.inFlight[topicPartition] = entry.count > 0 ? entry : nil
    }

    /// Whether an earlier batch of the same partition is still in flight or waiting to be sent
    /// again: then an OUT_OF_ORDER_SEQUENCE answer for `batch` only means that one is missing.
    func hasEarlierBatch(than batch: ProducerBatch) -> Bool {
        guard let sequence = batch.baseSequence else { return false }
        return state.withLockedValue { state in
            state.ready[batch.topicPartition, default: []].contains { ($0.baseSequence ?? .max) < sequence }
                || state.inFlight[batch.topicPartition]?.sequences.contains { $0 < sequence } == true
        }
    }

    /// Requests in flight to any broker.
    var requestsInFlight: Int {
        state.withLockedValue { $0.inFlightPerBroker.values.reduce(0, +) }
    }

    /// After a new producer id: every partition's sequences start again at 0, and batches not
    /// yet acknowledged get new ones when they are next sent (KIP-360's reset, done the simple
    /// way: a fresh producer id rather than an epoch bump).
    func resetSequences() {
        state.withLockedValue { state in
            state.nextSequence.removeAll()
            for queue in state.ready.values {
                for batch in queue { batch.baseSequence = nil }
            }
        }
    }

    // MARK: The sender's sleep

    /// Sleeps until woken or until `deadline`.
    func waitForWork(until deadline: NIODeadline?, on eventLoop: any EventLoop) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLockedValue { state -> Bool in
                if state.senderSignalled {
                    state.senderSignalled = false
                    return true
                }
                state.senderWaiter = continuation
                return false
            }
            if resumeNow {
                continuation.resume()
                return
            }
            if let deadline {
                eventLoop.scheduleTask(deadline: deadline) { [self] in wakeSender() }
            }
        }
    }

    func wakeSender() {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.senderWaiter else {
                state.senderSignalled = true
                return nil
            }
            state.senderWaiter = nil
            return waiter
        }
        waiter?.resume()
    }
}
