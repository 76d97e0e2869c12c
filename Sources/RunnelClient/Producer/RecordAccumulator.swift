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
        var inFlightPerPartition: [TopicPartition: Int] = [:]
        var inFlightPerBroker: [Int32: Int] = [:]
        var nextSequence: [TopicPartition: Int32] = [:]
        var bufferedBytes = 0
        var unfinishedBatches = 0
        var flushes = 0
        var closing = false
        var spaceWaiters: [CheckedContinuation<Void, Never>] = []
        var emptyWaiters: [CheckedContinuation<Void, Never>] = []
        var senderWaiter: CheckedContinuation<Void, Never>?
        var senderSignalled = false
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
                    topicPartition: TopicPartition(topic: record.topic, partition: partition),
                    compression: configuration.compression, capacity: capacity, now: .now())
                topic.open[index] = batch
                state.unfinishedBatches += 1
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

    /// Sends every batch now and returns when none is left unfinished.
    func flush() async {
        state.withLockedValue { $0.flushes += 1 }
        wakeSender()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLockedValue { state -> Bool in
                if state.unfinishedBatches == 0 { return true }
                state.emptyWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
        state.withLockedValue { $0.flushes -= 1 }
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
                // A retried batch of an idempotent producer goes alone, so sequences stay in order.
                let inFlight = state.inFlightPerPartition[topicPartition, default: 0]
                if idempotent && batch.attempts > 0 && inFlight > 0 { continue }
                if idempotent && inFlight >= configuration.maxInFlightRequestsPerConnection { continue }
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
                state.inFlightPerPartition[topicPartition, default: 0] += 1
                drained.requests[node, default: []].append(batch)
            }
            for node in drained.requests.keys { state.inFlightPerBroker[node, default: 0] += 1 }
            drained.finished = state.closing && state.unfinishedBatches == expired.count && drained.requests.isEmpty
            return drained
        }
        for batch in expired {
            batch.fail(KafkaClientError.broker(.requestTimedOut, "\(batch.topicPartition): not acknowledged within delivery.timeout.ms"))
            finish(batch, inFlight: false)
        }
        return drained
    }

    /// A request to `node` completed (whatever its outcome).
    func requestCompleted(node: Int32) {
        state.withLockedValue { $0.inFlightPerBroker[node, default: 1] -= 1 }
        wakeSender()
    }

    /// A batch is acknowledged or has failed for good: release its memory.
    func finish(_ batch: ProducerBatch, inFlight: Bool = true) {
        let (spaceWaiters, emptyWaiters) = state.withLockedValue { state -> ([CheckedContinuation<Void, Never>], [CheckedContinuation<Void, Never>]) in
            if inFlight { state.inFlightPerPartition[batch.topicPartition, default: 1] -= 1 }
            state.bufferedBytes -= batch.reservedBytes
            state.unfinishedBatches -= 1
            var space: [CheckedContinuation<Void, Never>] = []
            if state.bufferedBytes < configuration.bufferMemory / 2 || state.unfinishedBatches == 0 {
                space = state.spaceWaiters
                state.spaceWaiters.removeAll()
            }
            var empty: [CheckedContinuation<Void, Never>] = []
            if state.unfinishedBatches == 0 {
                empty = state.emptyWaiters
                state.emptyWaiters.removeAll()
            }
            return (space, empty)
        }
        for waiter in spaceWaiters { waiter.resume() }
        for waiter in emptyWaiters { waiter.resume() }
        if !emptyWaiters.isEmpty { wakeSender() }
    }

    /// A batch failed with a retriable error: back to the front of its partition's queue, in
    /// sequence order.
    func requeue(_ batch: ProducerBatch) {
        state.withLockedValue { state in
            state.inFlightPerPartition[batch.topicPartition, default: 1] -= 1
            var queue = state.ready[batch.topicPartition, default: []]
            let position = queue.firstIndex { other in
                guard let mine = batch.baseSequence, let theirs = other.baseSequence else { return other.attempts == 0 }
                return theirs > mine
            } ?? queue.endIndex
            queue.insert(batch, at: position)
            state.ready[batch.topicPartition] = queue
        }
    }

    /// Whether an earlier batch of the same partition is waiting to be sent again: then an
    /// OUT_OF_ORDER_SEQUENCE answer for `batch` only means that batch is missing.
    func hasEarlierRetry(than batch: ProducerBatch) -> Bool {
        guard let sequence = batch.baseSequence else { return false }
        return state.withLockedValue { state in
            state.ready[batch.topicPartition, default: []].contains { ($0.baseSequence ?? .max) < sequence }
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
