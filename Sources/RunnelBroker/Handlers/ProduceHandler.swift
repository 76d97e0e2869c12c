import NIOCore
import RunnelCluster
import RunnelCodecs
import RunnelProtocol
import RunnelStorage

/// Produce (0). Advertised from v0, as Kafka does (librdkafka before 2.11.1 compresses only when
/// Produce v0 is advertised), served from v3: v0-2 carry the old message formats, which every
/// partition refuses with UNSUPPORTED_VERSION.
///
/// Each partition's record set must be exactly one RecordBatch v2. Its header, CRC and every
/// record are checked (`RecordBatch.validateRecords`, as Kafka's LogValidator does), so that
/// nothing a consumer cannot read is stored; the bytes are stored as the producer compressed them
/// unless the topic's compression.type or message.timestamp.type asks the broker to rewrite the
/// batch (`BatchRewriter`).
///
/// Checking an uncompressed batch is a scan over its bytes and runs where the request does, on
/// the connection's event loop. Decompressing or recompressing more than `inlineWorkBytes` runs
/// on the global concurrent executor instead, so that a batch of millions of records does not
/// stall the other connections of that loop; the connection itself waits for it (its requests
/// are answered in order), and the partitions of one request are still appended in order.
struct ProduceHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...11
    let context: HandlerContext
    typealias PartitionResponse = ProduceResponse.PartitionProduceResponse

    func handle(_ request: ProduceRequest, context requestContext: RequestContext) async -> HandlerReply<ProduceResponse> {
        var response = ProduceResponse()
        var pendingAcks: [ReplicaManager.PendingAck] = []
        // Who sent the batches, for the segments' trace sidecars (`runnel trace`).
        let origin = BatchOrigin(clientId: requestContext.clientId ?? "", address: requestContext.client)
        for topic in request.topicData {
            var topicResponse = ProduceResponse.TopicProduceResponse(name: topic.name, topicId: topic.topicId)
            let metadata = context.metadata.topic(named: topic.name)
            let settings = metadata.map { context.schema.produceSettings($0.configs) }
            for data in topic.partitionData {
                var partitionResponse = PartitionResponse(index: data.index, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1)
                guard requestContext.apiVersion >= 3 else {
                    partitionResponse.errorCode = KafkaErrorCode.unsupportedVersion.rawValue
                    topicResponse.partitionResponses.append(partitionResponse)
                    continue
                }
                guard [-1, 0, 1].contains(request.acks) else {
                    partitionResponse.errorCode = KafkaErrorCode.invalidRequiredAcks.rawValue
                    topicResponse.partitionResponses.append(partitionResponse)
                    continue
                }
                guard let settings, data.index >= 0, data.index < metadata!.partitionCount else {
                    partitionResponse.errorCode = KafkaErrorCode.unknownTopicOrPartition.rawValue
                    topicResponse.partitionResponses.append(partitionResponse)
                    continue
                }
                let topicPartition = TopicPartition(topic: topic.name, partition: data.index)
                if let pending = await produce(
                    data.records, to: topicPartition, acks: request.acks, settings: settings, version: requestContext.apiVersion,
                    origin: origin, into: &partitionResponse) {
                    pendingAcks.append(pending)
                }
                topicResponse.partitionResponses.append(partitionResponse)
            }
            response.responses.append(topicResponse)
        }
        guard request.acks != 0 else { return .none }
        if requestContext.apiVersion >= 10 { Self.addLeaderHints(to: &response, image: context.metadata.image) }
        guard !pendingAcks.isEmpty else { return .response(response) }
        // The appends are done and ordered; only the fsyncs and the replication remain.
        // Waiting for them off the connection's turn lets the next produce append meanwhile,
        // and its fsync join this one's.
        let replicas = context.replicas
        let appended = response
        let acks = pendingAcks
        let timeoutMs = Int64(request.timeoutMs)
        return .later {
            var response = appended
            let failed = await replicas.waitUntilAcknowledged(acks, timeoutMs: timeoutMs)
            if !failed.isEmpty { Self.markFailed(failed, in: &response) }
            // The fsync took time: a lease that lapsed meanwhile means no acknowledgement.
            if !replicas.mayAcknowledge() { Self.markNotLeader(in: &response) }
            return .response(response)
        }
    }

    /// Every partition that was appended answers NOT_LEADER_OR_FOLLOWER instead (retriable:
    /// the producer asks the metadata who leads now, and an idempotent retry is deduplicated).
    private static func markNotLeader(in response: inout ProduceResponse) {
        for topicIndex in response.responses.indices {
            for index in response.responses[topicIndex].partitionResponses.indices
            where response.responses[topicIndex].partitionResponses[index].errorCode == 0 {
                response.responses[topicIndex].partitionResponses[index].errorCode = KafkaErrorCode.notLeaderOrFollower.rawValue
                response.responses[topicIndex].partitionResponses[index].errorMessage =
                    "This server's cluster membership lapsed while the append was made durable."
            }
        }
    }

    /// KIP-951: a partition refused with NOT_LEADER_OR_FOLLOWER names its current leader and
    /// epoch, and the response carries that leader's endpoint, so the client retries there
    /// without a Metadata round trip (Produce v10+).
    static func addLeaderHints(to response: inout ProduceResponse, image: MetadataImage) {
        var endpoints: [Int32: ProduceResponse.NodeEndpoint] = [:]
        for topicIndex in response.responses.indices {
            let name = response.responses[topicIndex].name
            for index in response.responses[topicIndex].partitionResponses.indices {
                let partition = response.responses[topicIndex].partitionResponses[index]
                guard partition.errorCode == KafkaErrorCode.notLeaderOrFollower.rawValue,
                      let state = image.partition(TopicPartition(topic: name, partition: partition.index)),
                      let leader = image.brokers[state.leader]
                else { continue }
                response.responses[topicIndex].partitionResponses[index].currentLeader = .init(
                    leaderId: state.leader, leaderEpoch: state.leaderEpoch)
                endpoints[leader.brokerId] = .init(nodeId: leader.brokerId, host: leader.host, port: leader.port, rack: leader.rack)
            }
        }
        response.nodeEndpoints = endpoints.keys.sorted().map { endpoints[$0]! }
    }

    /// Appended but not acknowledgeable: not made durable (a failed fsync takes the log
    /// directory offline, hence KAFKA_STORAGE_ERROR), or not replicated to the in-sync replicas
    /// (NOT_ENOUGH_REPLICAS_AFTER_APPEND, REQUEST_TIMED_OUT, NOT_LEADER_OR_FOLLOWER). All are
    /// retriable: the producer tries again, and an idempotent retry is deduplicated.
    private static func markFailed(_ partitions: [TopicPartition: (KafkaErrorCode, String)], in response: inout ProduceResponse) {
        for topicIndex in response.responses.indices {
            let name = response.responses[topicIndex].name
            for index in response.responses[topicIndex].partitionResponses.indices {
                let partition = TopicPartition(topic: name, partition: response.responses[topicIndex].partitionResponses[index].index)
                guard let (code, message) = partitions[partition] else { continue }
                response.responses[topicIndex].partitionResponses[index].errorCode = code.rawValue
                response.responses[topicIndex].partitionResponses[index].errorMessage = message
            }
        }
    }

    /// Validates and appends one partition's batch; returns what its acknowledgement must
    /// still wait for (an fsync, the in-sync replicas).
    private func produce(
        _ records: ByteBuffer?, to topicPartition: TopicPartition, acks: Int16, settings: TopicConfigSchema.ProduceSettings,
        version: Int16, origin: BatchOrigin, into response: inout PartitionResponse
    ) async -> ReplicaManager.PendingAck? {
        func fail(_ code: KafkaErrorCode, _ message: String) -> ReplicaManager.PendingAck? {
            response.errorCode = code.rawValue
            response.errorMessage = message
            return nil
        }
        func fail(_ error: RecordBatchError) -> ReplicaManager.PendingAck? {
            // Produce v8+ names the records at fault (KIP-467); older versions only see the message.
            response.recordErrors = error.recordIndexes.map { .init(batchIndex: Int32(clamping: $0), batchIndexErrorMessage: error.detail) }
            return fail(error.kafkaErrorCode, error.description)
        }
        // Exactly one whole batch (Produce v3+).
        var batches = RecordSet(records ?? ByteBuffer()).makeIterator()
        guard let bytes = batches.next(), batches.next() == nil, batches.trailingBytes == 0 else {
            return fail(.invalidRecord, "Produce v3+ must carry exactly one record batch per partition.")
        }
        guard bytes.readableBytes <= settings.maxMessageBytes else {
            return fail(.messageTooLarge, "The batch of \(bytes.readableBytes) bytes exceeds max.message.bytes \(settings.maxMessageBytes).")
        }
        var batch: RecordBatch
        do {
            batch = try RecordBatch(validating: bytes)
            try batch.validateAsProduced()
        } catch {
            return fail(error)
        }
        if batch.compression == .zstd, version < 7 {
            return fail(.unsupportedCompressionType, "zstd needs Produce v7 or later.")
        }
        do {
            batch = try await Self.validateAndRewrite(
                batch, settings: settings, logAppendTime: settings.logAppendTime ? PartitionLog.wallClockMilliseconds() : nil)
        } catch let error as RecordBatchError {
            return fail(error)
        } catch {
            return fail(.corruptMessage, "\(error)")
        }
        // A recompressed batch is checked again, as Kafka does after it rebuilt one.
        guard batch.bytes.readableBytes <= settings.maxMessageBytes else {
            return fail(
                .messageTooLarge,
                "Recompressed as \(batch.compression), the batch of \(batch.bytes.readableBytes) bytes exceeds max.message.bytes \(settings.maxMessageBytes).")
        }
        let (outcome, pending) = context.replicas.appendAsLeader(
            batch, to: topicPartition, acks: acks, minInsyncReplicas: settings.minInsyncReplicas, origin: origin)
        switch outcome {
        case .appended(let result, let logStartOffset, _):
            if !result.isDuplicate {
                context.metrics.traffic.appended(
                    to: topicPartition.topic, bytes: batch.bytes.readableBytes, records: Int(batch.header.recordsCount))
            }
            response.baseOffset = result.baseOffset
            response.logStartOffset = logStartOffset
            if settings.logAppendTime { response.logAppendTimeMs = batch.header.maxTimestamp }
            return pending
        case .failed(let code, let message):
            return fail(code, message)
        }
    }

    /// Decompressed or recompressed bytes up to which checking and rewriting a batch is cheap
    /// enough (well under a millisecond for lz4, zstd and snappy, a few for gzip) to do on the
    /// event loop rather than pay two thread hops.
    static let inlineWorkBytes = 256 * 1024

    /// Checks every record of `batch` within the topic's limits and applies the topic's rewrite
    /// policy. Small work runs here; larger work hops to the global concurrent executor. For a
    /// compressed batch the size is known only once decompressed: it is first tried under the
    /// inline cap, and a batch that inflates past it is done again off the loop (the wasted work
    /// is bounded by the cap).
    static func validateAndRewrite(
        _ batch: RecordBatch, settings: TopicConfigSchema.ProduceSettings, logAppendTime: Int64?
    ) async throws -> RecordBatch {
        let limits = RecordBatchLimits(maxMessageBytes: settings.maxMessageBytes)
        @Sendable func work(_ limits: RecordBatchLimits) throws -> RecordBatch {
            let validated = try batch.validateRecords(limits: limits, requireKeys: settings.requiresKeys)
            return try BatchRewriter.applyTopicPolicy(
                to: batch, validated: validated, compression: settings.compression, logAppendTime: logAppendTime)
        }
        func offTheEventLoop() async throws -> RecordBatch {
            try await withTaskExecutorPreference(globalConcurrentExecutor) { try work(limits) }
        }
        if batch.compression == .none {
            var recompresses = false
            if case .some(.some(let codec)) = settings.compression, codec != .none { recompresses = true }
            guard recompresses, batch.bytes.readableBytes > inlineWorkBytes else { return try work(limits) }
            return try await offTheEventLoop()
        }
        let inline = limits.capping(decompressedBytes: inlineWorkBytes)
        do {
            return try work(inline)
        } catch let error as RecordBatchError where error.code == .decompressedTooLarge && inline != limits {
            return try await offTheEventLoop()
        }
    }
}
