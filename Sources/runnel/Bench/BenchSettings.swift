import RunnelBench
import RunnelClient

/// The settings a report carries under `settings`, named like the flags (and Kafka's configs),
/// so that a JSON result says exactly how to run it again.
enum BenchSettings {
    static func common(client: ClientOptions, topic: String, partitions: Int, limits: BenchLimitOptions) -> [String: ReportValue] {
        [
            "bootstrap_server": .string(client.bootstrapServer),
            "topic": .string(topic),
            "partitions": .int(partitions),
            "num_records": limits.numRecords.map { .int($0) } ?? .null,
            "duration_sec": limits.duration.map { .figure($0) } ?? .null,
        ]
    }

    static func producer(_ configuration: ProducerConfiguration, options: BenchProducerOptions, recordSize: Int, throughput: Double,
                         keys: KeyDistribution) -> [String: ReportValue] {
        [
            "record_size": .int(recordSize),
            "throughput": throughput > 0 ? .figure(throughput) : .int(-1),
            "acks": .string(configuration.acks.description),
            "compression": .string(configuration.compression.description),
            "batch_size": .int(configuration.batchSize),
            "linger_ms": .int(configuration.linger.nanoseconds / 1_000_000),
            "enable_idempotence": .bool(configuration.enableIdempotence),
            "max_in_flight": .int(configuration.maxInFlightRequestsPerConnection),
            "buffer_memory": .int(configuration.bufferMemory),
            "keys": .string(keys.description),
            "payload": .string(options.payload),
            "seed": .int(Int64(truncatingIfNeeded: options.seed)),
        ]
    }

    static func consumer(_ configuration: ConsumerConfiguration, options: BenchConsumerOptions) -> [String: ReportValue] {
        [
            "group": configuration.groupId.map { .string($0) } ?? .null,
            "fetch_max_wait_ms": .int(options.fetchMaxWaitMs),
            "fetch_min_bytes": .int(options.fetchMinBytes),
            "max_partition_fetch_bytes": .int(options.maxPartitionFetchBytes),
            "timeout_ms": .int(options.timeout),
        ]
    }

    /// The settings a chart's subtitle shows: the ones that change the curve, not the plumbing.
    static func headline(_ settings: [String: ReportValue]) -> String {
        let keys = ["topic", "partitions", "num_records", "duration_sec", "record_size", "throughput", "acks", "compression",
                    "batch_size", "linger_ms", "keys", "payload", "producers", "consumers", "group", "warmup_sec"]
        return keys.compactMap { key in
            guard let value = settings[key], value != .null else { return nil }
            return "\(key)=\(value.text)"
        }.joined(separator: " ")
    }
}

extension Dictionary where Key == String, Value == ReportValue {
    /// Merges settings groups; a later group wins on a shared key.
    func adding(_ other: [String: ReportValue]) -> [String: ReportValue] {
        merging(other) { _, new in new }
    }
}
