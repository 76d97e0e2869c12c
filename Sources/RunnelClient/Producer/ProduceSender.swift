import Logging
import NIOConcurrencyHelpers
import NIOCore
import RunnelProtocol

/// The producer's background loop: drains ready batches from the accumulator, groups them into
/// one Produce request per leader, writes the requests in drain order (so an idempotent
/// producer's sequences reach each broker in order) and settles each batch from the response:
/// acknowledged, retried after a metadata refresh, or failed.
final class ProduceSender: Sendable {
    private let configuration: ProducerConfiguration
    private let cluster: KafkaCluster
    private let accumulator: RecordAccumulator
    private let logger: Logger
    private let eventLoop: any EventLoop
    /// Producer id and epoch once InitProducerId succeeded; nil for a producer without idempotence.
    private let identity = NIOLockedValueBox<(id: Int64, epoch: Int16)?>(nil)
    private let refreshing = NIOLockedValueBox(false)
    /// A batch with a sequence number failed for good: the partition's sequences have a gap the
    /// broker would never accept past, so the producer takes a new id once nothing is in flight.
    private let sequenceGap = NIOLockedValueBox(false)

    init(configuration: ProducerConfiguration, cluster: KafkaCluster, accumulator: RecordAccumulator, logger: Logger) {
        self.configuration = configuration
        self.cluster = cluster
        self.accumulator = accumulator
        self.logger = logger
        self.eventLoop = cluster.group.next()
    }

    func run() async {
        var idempotent = configuration.enableIdempotence
        var needsIdentity = idempotent
        while true {
            if needsIdentity {
                switch await initProducerId() {
                case .success: needsIdentity = false
                case .unsupported: idempotent = false; needsIdentity = false
                case .retryLater: break
                }
            }
            let gap = idempotent && sequenceGap.withLockedValue { $0 }
            if gap && accumulator.requestsInFlight == 0 {
                logger.warning("a batch with a sequence number failed: taking a new producer id and restarting sequences")
                sequenceGap.withLockedValue { $0 = false }
                accumulator.resetSequences()
                needsIdentity = true
                continue
            }
            let metadata = cluster.metadata
            let holdBack = needsIdentity || gap
            let drained = accumulator.drain(now: .now(), idempotent: idempotent && !needsIdentity) { topicPartition in
                holdBack ? nil : metadata.leader(of: topicPartition.topic, partition: topicPartition.partition)
            }
            if drained.expiredWithSequence { sequenceGap.withLockedValue { $0 = true } }
            if drained.finished { return }
            for (node, batches) in drained.requests {
                await send(batches, to: node)
            }
            var deadline = drained.nextDeadline
            if !drained.unknownLeaders.isEmpty || holdBack {
                if !drained.unknownLeaders.isEmpty { refreshMetadata(Array(drained.unknownLeaders)) }
                let retryAt = NIODeadline.now() + configuration.client.retryBackoff
                deadline = min(deadline ?? retryAt, retryAt)
            }
            await accumulator.waitForWork(until: deadline, on: eventLoop)
        }
    }

    private enum IdentityOutcome { case success, unsupported, retryLater }

    private func initProducerId() async -> IdentityOutcome {
        do {
            let response = try await cluster.withAnyBroker { connection -> InitProducerIdResponse? in
                guard connection.versions.supports(InitProducerIdRequest.self) else { return nil }
                var request = InitProducerIdRequest()
                request.transactionalId = nil
                request.transactionTimeoutMs = 60_000
                request.producerId = -1
                request.producerEpoch = -1
                return try await connection.send(request)
            }
            guard let response else {
                logger.warning("the broker does not support InitProducerId: producing without idempotence")
                return .unsupported
            }
            try KafkaClientError.check(response.errorCode, "InitProducerId")
            identity.withLockedValue { $0 = (response.producerId, response.producerEpoch) }
            return .success
        } catch {
            logger.warning("InitProducerId failed, retrying: \(error)")
            return .retryLater
        }
    }

    /// One metadata refresh at a time, in the background; the sender is woken when it lands.
    private func refreshMetadata(_ topics: [String]) {
        let start = refreshing.withLockedValue { busy -> Bool in
            defer { busy = true }
            return !busy
        }
        guard start else { return }
        Task {
            do {
                try await cluster.refreshMetadata(topics: topics)
            } catch {
                logger.debug("metadata refresh failed: \(error)")
            }
            refreshing.withLockedValue { $0 = false }
            accumulator.wakeSender()
        }
    }

    private func send(_ batches: [ProducerBatch], to node: Int32) async {
        let identity: (id: Int64, epoch: Int16) = self.identity.withLockedValue { $0 } ?? (-1, -1)
        var topics: [String: [ProduceRequest.PartitionProduceData]] = [:]
        var sendable: [ProducerBatch] = []
        for batch in batches {
            do {
                let bytes = try batch.encode(producerId: identity.id, producerEpoch: identity.epoch)
                batch.attempts += 1
                topics[batch.topicPartition.topic, default: []].append(
                    ProduceRequest.PartitionProduceData(index: batch.topicPartition.partition, records: bytes))
                sendable.append(batch)
            } catch {
                batch.fail(error)
                accumulator.finish(batch)
            }
        }
        guard !sendable.isEmpty else {
            accumulator.requestCompleted(node: node)
            return
        }
        var request = ProduceRequest()
        request.acks = configuration.acks.rawValue
        request.timeoutMs = Int32(clamping: configuration.client.requestTimeout.nanoseconds / 1_000_000)
        request.topicData = topics.map { ProduceRequest.TopicProduceData(name: $0.key, partitionData: $0.value) }

        let connection: BrokerConnection
        do {
            connection = try await cluster.connection(toNode: node)
        } catch {
            settle(sendable, node: node, failure: error)
            return
        }
        do {
            if configuration.acks == .none {
                let written = try connection.writeWithoutResponse(request)
                written.whenComplete { [self, sendable] result in
                    switch result {
                    case .success:
                        for batch in sendable {
                            batch.complete(baseOffset: -1, logAppendTime: -1)
                            accumulator.finish(batch)
                        }
                        accumulator.requestCompleted(node: node)
                    case .failure(let error):
                        settle(sendable, node: node, failure: error)
                    }
                }
            } else {
                try connection.write(request).whenComplete { [self, sendable] result in
                    switch result {
                    case .success(let response): settle(sendable, node: node, response: response)
                    case .failure(let error): settle(sendable, node: node, failure: error)
                    }
                }
            }
        } catch {
            settle(sendable, node: node, failure: error)
        }
    }

    /// The whole request failed (connection lost, timeout): every batch is retried or failed.
    private func settle(_ batches: [ProducerBatch], node: Int32, failure: any Error) {
        let error = failure as? KafkaClientError ?? .disconnected(nil, "\(failure)")
        for batch in batches { retryOrFail(batch, error: error) }
        accumulator.requestCompleted(node: node)
    }

    private func settle(_ batches: [ProducerBatch], node: Int32, response: ProduceResponse) {
        var results: [TopicPartition: ProduceResponse.PartitionProduceResponse] = [:]
        for topic in response.responses {
            for partition in topic.partitionResponses {
                results[TopicPartition(topic: topic.name, partition: partition.index)] = partition
            }
        }
        for batch in batches {
            guard let result = results[batch.topicPartition] else {
                retryOrFail(batch, error: .malformedResponse(nil, "no answer for \(batch.topicPartition)"))
                continue
            }
            let code = KafkaErrorCode(rawValue: result.errorCode)
            switch code {
            case .none:
                batch.complete(baseOffset: result.baseOffset, logAppendTime: result.logAppendTimeMs)
                accumulator.finish(batch)
            case .duplicateSequenceNumber:
                // A retry of a batch the broker already has: it is stored, its offset unknown.
                batch.complete(baseOffset: -1, logAppendTime: -1)
                accumulator.finish(batch)
            default:
                let message = result.errorMessage.map { ": \($0)" } ?? ""
                // Out of order only because an earlier batch of this partition is being retried:
                // this one follows it again.
                let followsRetry = code == .outOfOrderSequenceNumber && accumulator.hasEarlierBatch(than: batch)
                retryOrFail(batch, error: .broker(code, "Produce \(batch.topicPartition)\(message)"), retriable: followsRetry)
            }
        }
        accumulator.requestCompleted(node: node)
    }

    private func retryOrFail(_ batch: ProducerBatch, error: KafkaClientError, retriable: Bool = false) {
        let retriable = retriable || error.isRetriable
        let expired = batch.createdAt + configuration.deliveryTimeout <= .now()
        if retriable && batch.attempts <= configuration.retries && !expired {
            switch error {
            case .broker(.notLeaderOrFollower, _), .broker(.unknownTopicOrPartition, _), .broker(.leaderNotAvailable, _),
                 .broker(.kafkaStorageError, _), .disconnected, .connectionFailed, .requestTimedOut:
                // The leader may have moved or died: ask again rather than retry the same broker.
                refreshMetadata([batch.topicPartition.topic])
            default:
                break
            }
            logger.debug("retrying \(batch.topicPartition) after \(error)")
            batch.retryAt = .now() + configuration.client.retryBackoff
            accumulator.requeue(batch)
        } else {
            if batch.baseSequence != nil { sequenceGap.withLockedValue { $0 = true } }
            batch.fail(error)
            accumulator.finish(batch)
        }
    }
}
