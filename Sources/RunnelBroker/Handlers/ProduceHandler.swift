import NIOCore
import RunnelCodecs
import RunnelProtocol
import RunnelStorage

/// Produce (0). Advertised from v0, as Kafka does (librdkafka before 2.11.1 compresses only when
/// Produce v0 is advertised), served from v3: v0-2 carry the old message formats, which every
/// partition refuses with UNSUPPORTED_VERSION.
///
/// Each partition's record set must be exactly one RecordBatch v2. Its header and CRC are
/// checked, not its records: the bytes are stored as the producer compressed them unless the
/// topic's compression.type or message.timestamp.type asks the broker to rewrite the batch.
struct ProduceHandler: APIHandler {
    let versions: ClosedRange<Int16> = 0...11
    let context: HandlerContext
    typealias PartitionResponse = ProduceResponse.PartitionProduceResponse

    func handle(_ request: ProduceRequest, context requestContext: RequestContext) async -> HandlerReply<ProduceResponse> {
        var response = ProduceResponse()
        var pendingSyncs: [ReplicaManager.PendingSync] = []
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
                if let pending = produce(
                    data.records, to: topicPartition, acks: request.acks, settings: settings, version: requestContext.apiVersion,
                    into: &partitionResponse) {
                    pendingSyncs.append(pending)
                }
                topicResponse.partitionResponses.append(partitionResponse)
            }
            response.responses.append(topicResponse)
        }
        guard request.acks != 0 else { return .none }
        guard !pendingSyncs.isEmpty else { return .response(response) }
        // The appends are done and ordered; only the fsyncs remain. Waiting for them off the
        // connection's turn lets the next produce append meanwhile, and its fsync join this one's.
        let replicas = context.replicas
        let appended = response
        let syncs = pendingSyncs
        return .later {
            var response = appended
            let unsynced = await replicas.waitUntilDurable(syncs)
            if !unsynced.isEmpty { Self.markUnsynced(unsynced, in: &response) }
            return .response(response)
        }
    }

    /// Appended but not made durable: the producer must not take it as acknowledged.
    private static func markUnsynced(_ partitions: Set<TopicPartition>, in response: inout ProduceResponse) {
        for topicIndex in response.responses.indices {
            let name = response.responses[topicIndex].name
            for index in response.responses[topicIndex].partitionResponses.indices
            where partitions.contains(TopicPartition(topic: name, partition: response.responses[topicIndex].partitionResponses[index].index)) {
                response.responses[topicIndex].partitionResponses[index].errorCode = KafkaErrorCode.unknownServerError.rawValue
                response.responses[topicIndex].partitionResponses[index].errorMessage = "The append could not be made durable (fsync failed)."
            }
        }
    }

    /// Validates and appends one partition's batch; returns the fsync it must still wait for.
    private func produce(
        _ records: ByteBuffer?, to topicPartition: TopicPartition, acks: Int16, settings: TopicConfigSchema.ProduceSettings,
        version: Int16, into response: inout PartitionResponse
    ) -> ReplicaManager.PendingSync? {
        func fail(_ code: KafkaErrorCode, _ message: String) -> ReplicaManager.PendingSync? {
            response.errorCode = code.rawValue
            response.errorMessage = message
            return nil
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
            return fail(error.kafkaErrorCode, error.description)
        }
        if batch.compression == .zstd, version < 7 {
            return fail(.unsupportedCompressionType, "zstd needs Produce v7 or later.")
        }
        let now = PartitionLog.wallClockMilliseconds()
        do {
            batch = try BatchRewriter.applyTopicPolicy(
                to: batch, compression: settings.compression, logAppendTime: settings.logAppendTime ? now : nil,
                maxDecompressedBytes: max(settings.maxMessageBytes, RecordBatch.defaultMaxDecompressedBytes))
        } catch let error as RecordBatchError {
            return fail(error.kafkaErrorCode, error.description)
        } catch {
            return fail(.corruptMessage, "\(error)")
        }
        let (outcome, pending) = context.replicas.appendAsLeader(
            batch, to: topicPartition, acks: acks, minInsyncReplicas: settings.minInsyncReplicas)
        switch outcome {
        case .appended(let result, let logStartOffset):
            response.baseOffset = result.baseOffset
            response.logStartOffset = logStartOffset
            if settings.logAppendTime { response.logAppendTimeMs = batch.header.maxTimestamp }
            return pending
        case .failed(let code, let message):
            return fail(code, message)
        }
    }
}
