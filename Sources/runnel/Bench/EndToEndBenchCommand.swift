import ArgumentParser
import NIOCore
import RunnelBench
import RunnelClient

/// `runnel bench e2e`: end-to-end latency (Kafka's EndToEndLatency, kept running at a steady
/// rate), producer and consumer in one process so both ends read the same monotonic clock.
struct EndToEndBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "e2e",
        abstract: "Measure end-to-end latency: from send() to the consumer's poll returning the record.",
        discussion: """
            One consumer is assigned every partition at its current end; then one producer sends --throughput \
            records per second (default 10000) of --record-size bytes (default 100, at least 24) for --duration \
            seconds (default 10) or --num-records. Each value starts with its send time on the monotonic clock, a \
            run id and a sequence number; the consumer records receipt minus send time. Records sent in the first \
            --warmup seconds are counted but left out of the percentiles. Lost, duplicated and foreign records \
            (other runs on the same topic) are reported.
            """)

    @OptionGroup var client: ClientOptions
    @OptionGroup var topic: BenchTopicOptions
    @OptionGroup var limits: BenchLimitOptions
    @OptionGroup var producer: BenchProducerOptions
    @OptionGroup var consumer: BenchConsumerOptions
    @Option(help: "Seconds at the start whose records are left out of the latency percentiles.")
    var warmup: Double = 1
    @OptionGroup var output: BenchOutputOptions

    func validate() throws {
        if let size = producer.recordSize, size < EndToEndStamp.size {
            throw ValidationError("e2e needs --record-size of at least \(EndToEndStamp.size): each value carries send time, run id and sequence number")
        }
        if !(warmup >= 0) { throw ValidationError("--warmup must be 0 or more seconds") }
    }

    func run() async throws {
        let clientConfiguration = try client.configuration()
        let producerConfiguration = try producer.configuration(client: clientConfiguration)
        let recordSize = producer.recordSize ?? 100
        let throughput = producer.throughput ?? 10_000
        let keys = try producer.keyDistribution()
        let duration = limits.numRecords == nil && limits.duration == nil ? 10 : limits.duration

        let partitions = try await BenchTopic.withAdmin(clientConfiguration) { admin in
            try await BenchTopic.prepare(
                topic.topic, partitions: topic.partitions, replicationFactor: topic.replicationFactor ?? -1, admin: admin,
                bootstrap: client.bootstrapServer, create: true)
        }

        // The consumer is positioned first: every record this run sends lies after its positions.
        let consumerConfiguration = consumer.configuration(client: clientConfiguration, groupId: nil)
        let receiverClient = Consumer(configuration: consumerConfiguration, logger: BenchConsole.logger("runnel.bench.consumer"))
        await receiverClient.assign(partitions)
        do {
            try await receiverClient.seekToEnd()
        } catch {
            await receiverClient.close()
            throw error
        }

        let producerClient = try Producer(configuration: producerConfiguration, logger: BenchConsole.logger("runnel.bench.producer"))
        let pool = PayloadPool(kind: try producer.payloadKind(), size: max(PayloadPool.defaultSize, 4 * recordSize), seed: producer.seed)
        let runId = UInt64.random(in: 1...UInt64.max)
        let stop = StopFlag()
        let ackRecorder = LatencyRecorder()
        let receiptRecorder = LatencyRecorder()
        let producerState = EndToEndProducerState(nil)
        let start = BenchClock.now()
        let deadline = duration.map { start + UInt64($0 * 1e9) }
        let warmupEnds = start + UInt64(warmup * 1e9)
        let receiver = EndToEndReceiver(
            consumer: receiverClient, recorder: receiptRecorder, runId: runId, warmupEnds: warmupEnds,
            producer: producerState, inactivity: UInt64(consumer.timeout) * 1_000_000)
        let sender = ProducerWorker(
            producer: producerClient, recorder: ackRecorder, topic: topic.topic, recordSize: recordSize,
            records: limits.numRecords.map(UInt64.init), deadline: deadline, throttler: Throttler(recordsPerSecond: throughput),
            keys: KeyChooser(keys, seed: producer.seed), keyTable: KeyTable(count: keys.keyCount), pool: pool,
            poolBuffer: ByteBuffer(bytes: pool.bytes), values: .stamped(runId: runId), latencyFrom: warmupEnds, stop: stop)

        let interrupt = InterruptHandler(stopping: stop)
        let ticker = ProgressTicker.start(intervalMilliseconds: output.reportingInterval, since: start, recorders: [receiptRecorder]) {
            "acked \(Format.grouped(ackRecorder.recordCount)), received"
        }
        let receiving = Task { await receiver.run() }
        let sent = await sender.run(start: start)
        producerState.value = (ackRecorder.recordCount, BenchClock.now())
        let received = await receiving.value
        ticker?.cancel()
        interrupt.remove()
        await producerClient.close()
        await receiverClient.close()

        let acks = ackRecorder.total()
        let receipts = receiptRecorder.total()
        let elapsed = received.firstReceipt.flatMap { first in receipts.lastAt.map { BenchClock.seconds($0 - first) } } ?? 0
        let settings = BenchSettings.common(client: client, topic: topic.topic, partitions: partitions.count, limits: limits)
            .adding(BenchSettings.producer(producerConfiguration, options: producer, recordSize: recordSize, throughput: throughput, keys: keys))
            .adding(BenchSettings.consumer(consumerConfiguration, options: consumer))
            .adding(["warmup_sec": .figure(warmup), "duration_sec": duration.map { .figure($0) } ?? .null])
        let ackSummary = BenchSummary(mode: "ack", latencyDescription: "send → ack", records: acks.records, bytes: acks.bytes,
                                      errors: acks.errors, elapsedSeconds: 0, latency: acks.histogram, settings: [:])
        let summary = BenchSummary(
            mode: "e2e", latencyDescription: "send → receive", records: received.tracker.distinct, bytes: receipts.bytes,
            errors: acks.errors + receipts.errors, elapsedSeconds: elapsed, latency: receipts.histogram, settings: settings,
            extra: [
                ("sent", .int(sent)),
                ("acked", .int(acks.records)),
                ("received", .int(received.tracker.distinct)),
                ("lost", .int(acks.records > received.tracker.distinct ? acks.records - received.tracker.distinct : 0)),
                ("duplicates", .int(received.tracker.duplicates)),
                ("foreign", .int(received.foreign)),
                ("ack_p50_ms", .figure(ackSummary.milliseconds(atPercentile: 50))),
                ("ack_p99_ms", .figure(ackSummary.milliseconds(atPercentile: 99))),
                ("interrupted", .bool(stop.isStopped)),
            ],
            errorSamples: LatencyRecorder.errorSamples(of: [ackRecorder, receiptRecorder]))
        try BenchOutput.emit(
            summary, options: output, chartTitle: "runnel bench e2e: latency by percentile",
            chartSubtitle: BenchSettings.headline(settings),
            series: [.init(name: "send → receive", histogram: receipts.histogram), .init(name: "send → ack", histogram: acks.histogram)])
    }
}
