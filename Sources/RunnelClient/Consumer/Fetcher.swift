import Logging
import NIOCore
import RunnelProtocol

/// The consumer's fetch loop: one Fetch request per partition leader, and the next round sent as
/// soon as a round is answered, before its records are decoded and handed to the caller. Owned
/// by one `Consumer`; an actor so that the consumer can await it.
actor Fetcher {
    struct Result {
        var records: [ConsumerRecord] = []
        /// The next offset to fetch, for every partition the round answered.
        var positions: [TopicPartition: Int64] = [:]
        var outOfRange: [TopicPartition] = []
    }

    private struct InFlight {
        var requested: [TopicPartition: Int64]
        var response: EventLoopFuture<FetchResponse>
    }

    private let configuration: ConsumerConfiguration
    private let cluster: KafkaCluster
    private let logger: Logger
    private var prefetched: [InFlight] = []

    init(configuration: ConsumerConfiguration, cluster: KafkaCluster, logger: Logger) {
        self.configuration = configuration
        self.cluster = cluster
        self.logger = logger
    }

    /// After a rebalance nothing fetched for the old assignment may be returned.
    func discardPrefetched() { prefetched.removeAll() }

    /// One round for `wanted` (partition and its position): the round already in flight if there
    /// is one, else a new one held by the broker up to `maxWait`.
    func fetch(_ wanted: [(TopicPartition, Int64)], maxWait: TimeAmount) async throws -> Result {
        let positions = Dictionary(wanted, uniquingKeysWith: { _, last in last })
        if prefetched.isEmpty {
            guard !positions.isEmpty else {
                try await Task.sleep(nanoseconds: UInt64(max(maxWait.nanoseconds, 1_000_000)))
                return Result()
            }
            prefetched = try await send(positions, maxWait: maxWait)
        }
        let round = prefetched
        prefetched = []
        var responses: [(InFlight, FetchResponse)] = []
        for entry in round {
            do {
                responses.append((entry, try await entry.response.get()))
            } catch {
                logger.debug("fetch failed: \(error)")
                _ = try? await cluster.refreshMetadata(topics: Array(Set(entry.requested.keys.map(\.topic))))
            }
        }
        // Partitions this round does not answer keep their position for the next one.
        var next = positions
        var results: [(FetchResponse, [TopicPartition: Int64])] = []
        for (entry, response) in responses {
            // Only partitions still wanted at the offset they were fetched from count.
            let current = entry.requested.filter { positions[$0.key] == $0.value }
            results.append((response, current))
        }
        var result = Result()
        var pending: [(FetchResponse.PartitionData, TopicPartition, Int64)] = []
        var refresh: Set<String> = []
        for (response, current) in results {
            for topic in response.responses {
                for partition in topic.partitions {
                    let topicPartition = TopicPartition(topic: topic.topic, partition: partition.partitionIndex)
                    guard let position = current[topicPartition] else { continue }
                    switch KafkaErrorCode(rawValue: partition.errorCode) {
                    case .none:
                        pending.append((partition, topicPartition, position))
                    case .offsetOutOfRange:
                        result.outOfRange.append(topicPartition)
                        next[topicPartition] = nil
                    case let code where code.isRetriable:
                        refresh.insert(topic.topic)
                    case let code:
                        throw KafkaClientError.broker(code, "Fetch \(topicPartition)")
                    }
                }
            }
        }
        for (partition, topicPartition, position) in pending {
            let nextOffset = try decode(partition, of: topicPartition, from: position, into: &result.records)
            result.positions[topicPartition] = nextOffset
            next[topicPartition] = nextOffset
        }
        if !refresh.isEmpty { _ = try? await cluster.refreshMetadata(topics: Array(refresh)) }
        prefetched = (try? await send(next, maxWait: configuration.fetchMaxWait)) ?? []
        return result
    }

    /// Appends the records at or after `position` and returns the offset after the last batch.
    private func decode(_ partition: FetchResponse.PartitionData, of topicPartition: TopicPartition, from position: Int64,
                        into records: inout [ConsumerRecord]) throws -> Int64 {
        var next = position
        guard let bytes = partition.records else { return next }
        for batchBytes in RecordSet(bytes) {
            let batch: RecordBatch
            do {
                batch = try RecordBatch(validating: batchBytes)
            } catch {
                throw KafkaClientError.broker(.corruptMessage, "Fetch \(topicPartition) at \(next): \(error)")
            }
            let header = batch.header
            defer { next = max(next, header.lastOffset + 1) }
            if header.lastOffset < position || header.attributes.isControl { continue }
            let timestampType = header.attributes.timestampType
            for record in try batch.records() where record.offset >= position {
                records.append(ConsumerRecord(
                    topic: topicPartition.topic, partition: topicPartition.partition, offset: record.offset,
                    timestamp: record.timestamp, timestampType: timestampType, key: record.key, value: record.value,
                    headers: record.headers, leaderEpoch: header.partitionLeaderEpoch))
            }
        }
        return next
    }

    private func send(_ positions: [TopicPartition: Int64], maxWait: TimeAmount) async throws -> [InFlight] {
        guard !positions.isEmpty else { return [] }
        let metadata = try await cluster.metadata(covering: Array(Set(positions.keys.map(\.topic))))
        var byLeader: [Int32: [TopicPartition: Int64]] = [:]
        var leaderless: Set<String> = []
        for (partition, offset) in positions {
            if let leader = metadata.leader(of: partition.topic, partition: partition.partition) {
                byLeader[leader, default: [:]][partition] = offset
            } else {
                leaderless.insert(partition.topic)
            }
        }
        if !leaderless.isEmpty { _ = try? await cluster.refreshMetadata(topics: Array(leaderless)) }
        var rounds: [InFlight] = []
        for (leader, requested) in byLeader {
            var request = FetchRequest()
            request.replicaId = -1
            request.maxWaitMs = Int32(maxWait.nanoseconds / 1_000_000)
            request.minBytes = configuration.fetchMinBytes
            request.maxBytes = configuration.fetchMaxBytes
            request.isolationLevel = 0
            request.sessionId = 0
            request.sessionEpoch = -1  // no incremental fetch session: every request is whole
            request.topics = Dictionary(grouping: requested, by: \.key.topic).map { topic, entries in
                .init(topic: topic, partitions: entries.map {
                    .init(partition: $0.key.partition, currentLeaderEpoch: -1, fetchOffset: $0.value, lastFetchedEpoch: -1,
                          logStartOffset: -1, partitionMaxBytes: configuration.maxPartitionFetchBytes)
                })
            }
            let connection: BrokerConnection
            do {
                connection = try await cluster.connection(toNode: leader)
            } catch {
                // One unreachable leader must not stop fetching from the others; its partitions
                // wait for metadata that names a new leader.
                logger.debug("fetch from broker \(leader) not sent: \(error)")
                _ = try? await cluster.refreshMetadata(topics: Array(Set(requested.keys.map(\.topic))))
                continue
            }
            // The broker may hold the fetch for maxWait: allow for it beyond request.timeout.ms.
            let response = connection.write(request, version: try connection.versions.version(of: FetchRequest.self),
                                             timeout: configuration.client.requestTimeout + maxWait)
            rounds.append(InFlight(requested: requested, response: response))
        }
        return rounds
    }
}
