import ArgumentParser
import NIOCore
import RunnelBench
import RunnelClient
import RunnelCodecs

/// The topic a run reads or writes.
struct BenchTopicOptions: ParsableArguments {
    @Option(help: "The topic to benchmark.")
    var topic: String = "runnel-bench"

    @Option(help: "Create the topic with this many partitions if it does not exist (default: the broker's num.partitions).")
    var partitions: Int32?

    @Option(name: .customLong("replication-factor"), help: "Replication factor of a topic the benchmark creates (default: the broker's).")
    var replicationFactor: Int16?

    func validate() throws {
        if let partitions, partitions < 1 { throw ValidationError("--partitions must be at least 1") }
    }
}

/// How long a run lasts. Neither given means each command's default (see its help).
struct BenchLimitOptions: ParsableArguments {
    @Option(name: .customLong("num-records"), help: "Records to send or receive in all (over every producer or consumer).")
    var numRecords: Int?

    @Option(help: "Seconds to run; with --num-records too, whichever comes first.")
    var duration: Double?

    func validate() throws {
        if let numRecords, numRecords < 1 { throw ValidationError("--num-records must be at least 1") }
        if let duration, !(duration > 0) { throw ValidationError("--duration must be a positive number of seconds") }
    }

    /// The deadline of `--duration`, on the monotonic clock (nanoseconds).
    func deadline(from start: UInt64) -> UInt64? {
        duration.map { start + UInt64($0 * 1e9) }
    }
}

/// What a run prints and writes besides its summary.
struct BenchOutputOptions: ParsableArguments {
    @Flag(help: "Print one JSON object with the results on stdout instead of the human summary.")
    var json = false

    @Option(name: .customLong("hdr-file"), help: "Write the latency distribution here, in HdrHistogram's percentile text format (ms).")
    var hdrFile: String?

    @Option(help: "Write a latency-by-percentile chart here (SVG).")
    var svg: String?

    @Option(name: .customLong("reporting-interval"), help: "Milliseconds between progress lines on stderr; 0 for none.")
    var reportingInterval: Int = 1_000

    func validate() throws {
        if reportingInterval < 0 { throw ValidationError("--reporting-interval must be 0 or more") }
    }
}

/// Producer settings, under the names kafka-producer-perf-test and the Java producer use.
/// Unset flags leave the producer's own defaults (acks=all, batch.size=16384, linger.ms=5,
/// compression none), so a run measures what an application with default settings gets.
struct BenchProducerOptions: ParsableArguments {
    @Option(name: .customLong("record-size"), help: "Bytes of each record's value (default 1024; e2e: 100).")
    var recordSize: Int?

    @Option(help: "Target records per second over all producers, paced by sleeping; -1 for as fast as possible (default -1; e2e: 10000).")
    var throughput: Double?

    @Option(help: "acks: 0, 1 or all (default all). Idempotence is turned off for 0 and 1, which it cannot work with.")
    var acks: String?

    @Option(help: "compression.type: none, gzip, snappy, lz4 or zstd (default none).")
    var compression: String?

    @Option(name: .customLong("batch-size"), help: "batch.size in bytes (default 16384).")
    var batchSize: Int?

    @Option(name: .customLong("linger-ms"), help: "linger.ms (default 5).")
    var lingerMs: Int64?

    @Option(help: "Record keys: none, uniform:N, or zipfian:N[:EXPONENT] (exponent 0.99 unless given).")
    var keys: String = "none"

    @Option(help: "Values: random (A-Z letters, as kafka-producer-perf-test), words (text that compresses about 2:1) or zeros.")
    var payload: String = "random"

    @Option(help: "Seed of the key and payload generators; the same seed sends the same records.")
    var seed: UInt64 = 1

    @Option(name: .customLong("producer-props"), parsing: .upToNextOption,
            help: "Producer configs KEY=VALUE, as in kafka-producer-perf-test: acks, batch.size, linger.ms, compression.type, buffer.memory, max.in.flight.requests.per.connection, enable.idempotence, max.request.size, retries, delivery.timeout.ms. The flags above win over these.")
    var producerProps: [String] = []

    func validate() throws {
        if let recordSize, recordSize < 0 { throw ValidationError("--record-size must be 0 or more") }
        if let throughput, throughput == 0 || !throughput.isFinite { throw ValidationError("--throughput must be positive, or -1 for unlimited") }
        _ = try keyDistribution()
        _ = try payloadKind()
    }

    func keyDistribution() throws -> KeyDistribution {
        do {
            return try KeyDistribution(parsing: keys)
        } catch {
            throw ValidationError(error.description)
        }
    }

    func payloadKind() throws -> PayloadPool.Kind {
        guard let kind = PayloadPool.Kind(rawValue: payload) else {
            throw ValidationError("--payload must be one of \(PayloadPool.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return kind
    }

    /// The producer configuration: the client's, then `--producer-props`, then the flags.
    func configuration(client: ClientConfiguration) throws -> ProducerConfiguration {
        var configuration = ProducerConfiguration(client: client)
        var idempotenceChosen = false
        for property in producerProps {
            guard let equals = property.firstIndex(of: "=") else { throw ValidationError("--producer-props needs KEY=VALUE, got \(property)") }
            let key = String(property[..<equals])
            let value = String(property[property.index(after: equals)...])
            if key == "enable.idempotence" { idempotenceChosen = true }
            try Self.apply(key: key, value: value, to: &configuration)
        }
        if let acks { try Self.apply(key: "acks", value: acks, to: &configuration) }
        if let compression { try Self.apply(key: "compression.type", value: compression, to: &configuration) }
        if let batchSize { try Self.apply(key: "batch.size", value: String(batchSize), to: &configuration) }
        if let lingerMs { try Self.apply(key: "linger.ms", value: String(lingerMs), to: &configuration) }
        // Idempotence needs acks=all; a benchmark of acks=1 should just run, as the Java
        // producer's does (it disables idempotence when acks is set explicitly and it is not).
        if !idempotenceChosen && configuration.acks != .all { configuration.enableIdempotence = false }
        // Checked here as well as by the producer, so that a bad combination fails before the
        // benchmark creates a topic.
        if configuration.enableIdempotence && configuration.acks != .all {
            throw ValidationError("enable.idempotence=true needs acks=all")
        }
        return configuration
    }

    static func apply(key: String, value: String, to configuration: inout ProducerConfiguration) throws {
        func integer() throws -> Int {
            guard let number = Int(value), number >= 0 else { throw ValidationError("\(key) must be a non-negative integer, got \(value)") }
            return number
        }
        switch key {
        case "acks":
            guard let acks = Acks(name: value) else { throw ValidationError("acks must be 0, 1 or all, got \(value)") }
            configuration.acks = acks
        case "compression.type":
            guard let codec = CompressionCodec(name: value) else { throw ValidationError("compression.type must be none, gzip, snappy, lz4 or zstd, got \(value)") }
            configuration.compression = codec
        case "batch.size": configuration.batchSize = try integer()
        case "linger.ms": configuration.linger = .milliseconds(Int64(try integer()))
        case "buffer.memory": configuration.bufferMemory = try integer()
        case "max.in.flight.requests.per.connection": configuration.maxInFlightRequestsPerConnection = try integer()
        case "max.request.size": configuration.maxRequestSize = try integer()
        case "retries": configuration.retries = try integer()
        case "delivery.timeout.ms": configuration.deliveryTimeout = .milliseconds(Int64(try integer()))
        case "enable.idempotence":
            guard let enabled = Bool(value.lowercased()) else { throw ValidationError("enable.idempotence must be true or false, got \(value)") }
            configuration.enableIdempotence = enabled
        default:
            throw ValidationError("unsupported producer config \(key)")
        }
    }
}

/// Consumer settings shared by `consume` and `e2e`.
struct BenchConsumerOptions: ParsableArguments {
    @Option(name: .customLong("fetch-max-wait-ms"), help: "fetch.max.wait.ms: how long the broker may hold a fetch that has no data.")
    var fetchMaxWaitMs: Int64 = 500

    @Option(name: .customLong("max-partition-fetch-bytes"), help: "max.partition.fetch.bytes.")
    var maxPartitionFetchBytes: Int32 = 1_048_576

    @Option(name: .customLong("fetch-min-bytes"), help: "fetch.min.bytes.")
    var fetchMinBytes: Int32 = 1

    @Option(help: "Stop after this many milliseconds without a record, as kafka-consumer-perf-test's --timeout.")
    var timeout: Int64 = 10_000

    func validate() throws {
        if timeout < 1 { throw ValidationError("--timeout must be positive") }
        if fetchMaxWaitMs < 0 { throw ValidationError("--fetch-max-wait-ms must be 0 or more") }
    }

    func configuration(client: ClientConfiguration, groupId: String?) -> ConsumerConfiguration {
        var configuration = ConsumerConfiguration(client: client, groupId: groupId)
        configuration.autoOffsetReset = .earliest
        // A benchmark group reads from the beginning every time: committing would make the next
        // run with the same --group start where this one stopped.
        configuration.enableAutoCommit = false
        configuration.fetchMaxWait = .milliseconds(fetchMaxWaitMs)
        configuration.maxPartitionFetchBytes = maxPartitionFetchBytes
        configuration.fetchMinBytes = fetchMinBytes
        return configuration
    }
}
