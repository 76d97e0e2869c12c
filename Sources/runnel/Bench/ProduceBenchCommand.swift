import ArgumentParser
import NIOCore
import RunnelBench
import RunnelClient

/// `runnel bench produce`: kafka-producer-perf-test for any Kafka-compatible broker.
struct ProduceBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Measure producer throughput and send-to-acknowledgement latency.",
        discussion: """
            Sends --num-records records (or for --duration seconds) of --record-size bytes, from --producers \
            producers each with its own connections, without waiting for each acknowledgement. The latency is \
            the time from send() to the delivery callback; unthrottled, it is mostly time spent queued in the \
            client (as with kafka-producer-perf-test), so use --throughput or `bench e2e` to measure the broker. \
            Throughput counts value bytes; MB is 2^20 bytes, as Kafka's tools count it.
            """)

    @OptionGroup var client: ClientOptions
    @OptionGroup var topic: BenchTopicOptions
    @OptionGroup var limits: BenchLimitOptions
    @OptionGroup var producer: BenchProducerOptions
    @Option(help: "Concurrent producers, each with its own connections; they share --num-records and --throughput.")
    var producers: Int = 1
    @OptionGroup var output: BenchOutputOptions

    func validate() throws {
        if limits.numRecords == nil && limits.duration == nil { throw ValidationError("give --num-records N or --duration SECONDS") }
        if producers < 1 { throw ValidationError("--producers must be at least 1") }
    }

    func run() async throws {
        let clientConfiguration = try client.configuration()
        let producerConfiguration = try producer.configuration(client: clientConfiguration)
        let recordSize = producer.recordSize ?? 1_024
        let throughput = producer.throughput ?? -1
        let keys = try producer.keyDistribution()

        let partitions = try await BenchTopic.withAdmin(clientConfiguration) { admin in
            try await BenchTopic.prepare(
                topic.topic, partitions: topic.partitions, replicationFactor: topic.replicationFactor ?? -1, admin: admin,
                bootstrap: client.bootstrapServer, create: true)
        }

        let pool = PayloadPool(kind: try producer.payloadKind(), size: max(PayloadPool.defaultSize, 4 * recordSize), seed: producer.seed)
        let poolBuffer = ByteBuffer(bytes: pool.bytes)
        let keyChooser = KeyChooser(keys, seed: producer.seed)
        let keyTable = KeyTable(count: keys.keyCount)
        let throttler = Throttler(recordsPerSecond: throughput).share(of: producers)
        let stop = StopFlag()
        let recorders = (0..<producers).map { _ in LatencyRecorder() }
        let clients = try (0..<producers).map { _ in try Producer(configuration: producerConfiguration, logger: BenchConsole.logger("runnel.bench.producer")) }
        let start = BenchClock.now()
        let deadline = limits.deadline(from: start)
        let workers = ProducerWorker.shares(of: limits.numRecords.map(UInt64.init), among: producers).enumerated().map { index, share in
            ProducerWorker(
                producer: clients[index], recorder: recorders[index], topic: topic.topic, recordSize: recordSize, records: share,
                deadline: deadline, throttler: throttler, keys: keyChooser.reseeded(.stream(index, of: producer.seed)), keyTable: keyTable,
                pool: pool, poolBuffer: poolBuffer, values: .slice, latencyFrom: 0, stop: stop)
        }

        let interrupt = InterruptHandler(stopping: stop)
        let ticker = ProgressTicker.start(intervalMilliseconds: output.reportingInterval, since: start, recorders: recorders)
        let sent = await withTaskGroup(of: UInt64.self) { group in
            for worker in workers { group.addTask { await worker.run(start: start) } }
            return await group.reduce(0, +)
        }
        let end = BenchClock.now()
        ticker?.cancel()
        interrupt.remove()
        for client in clients { await client.close() }

        let total = LatencyRecorder.Snapshot.merged(recorders.map { $0.total() })
        let settings = BenchSettings.common(client: client, topic: topic.topic, partitions: partitions.count, limits: limits)
            .adding(BenchSettings.producer(producerConfiguration, options: producer, recordSize: recordSize, throughput: throughput, keys: keys))
            .adding(["producers": .int(producers)])
        let summary = BenchSummary(
            mode: "produce", latencyDescription: "send → ack", records: total.records, bytes: total.bytes, errors: total.errors,
            elapsedSeconds: BenchClock.seconds(end - start), latency: total.histogram, settings: settings,
            extra: [("sent", .int(sent)), ("interrupted", .bool(stop.isStopped))],
            errorSamples: LatencyRecorder.errorSamples(of: recorders))
        try BenchOutput.emit(summary, options: output, chartTitle: "runnel bench produce: send → ack latency by percentile",
                             chartSubtitle: BenchSettings.headline(settings))
    }
}
