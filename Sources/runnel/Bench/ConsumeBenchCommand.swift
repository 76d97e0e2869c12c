import ArgumentParser
import Foundation
import RunnelBench
import RunnelClient

/// `runnel bench consume`: kafka-consumer-perf-test for any Kafka-compatible broker.
struct ConsumeBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume",
        abstract: "Measure consumer throughput, reading a topic from the beginning.",
        discussion: """
            Reads --num-records records (default: every record in the topic when the run starts), or for \
            --duration seconds from the first record received, stopping early after --timeout ms without a record. One consumer is assigned every \
            partition; --consumers N (or --group) join a consumer group instead, named runnel-bench-<pid> unless \
            --group names one. Offsets are never committed, so every run starts from the beginning. \
            Throughput is measured from the first record received to the last, so connecting and the group join \
            are left out (reported as startup_sec). Latency is the duration of each poll that returned records, \
            except each consumer's first.
            """)

    @OptionGroup var client: ClientOptions
    @Option(help: "The topic to read.")
    var topic: String = "runnel-bench"
    @OptionGroup var limits: BenchLimitOptions
    @Option(help: "Concurrent consumers, each with its own connections; more than one consume as a group.")
    var consumers: Int = 1
    @Option(help: "Consume in this consumer group (default: assign all partitions to one consumer, or group runnel-bench-<pid> for --consumers > 1).")
    var group: String?
    @OptionGroup var consumer: BenchConsumerOptions
    @OptionGroup var output: BenchOutputOptions

    func validate() throws {
        if consumers < 1 { throw ValidationError("--consumers must be at least 1") }
    }

    func run() async throws {
        let clientConfiguration = try client.configuration()
        let (partitions, backlog) = try await BenchTopic.withAdmin(clientConfiguration) { admin in
            let partitions = try await BenchTopic.prepare(topic, admin: admin, bootstrap: client.bootstrapServer, create: false)
            let needsBacklog = limits.numRecords == nil && limits.duration == nil
            return (partitions, needsBacklog ? try await BenchTopic.backlog(of: partitions, admin: admin) : nil)
        }
        if backlog == 0 { throw BenchError("topic \(topic) is empty: nothing to consume (produce first, or give --duration to wait for records)") }

        let groupId = group ?? (consumers > 1 ? "runnel-bench-\(ProcessInfo.processInfo.processIdentifier)" : nil)
        let consumerConfiguration = consumer.configuration(client: clientConfiguration, groupId: groupId)
        let clients = (0..<consumers).map { _ in Consumer(configuration: consumerConfiguration, logger: BenchConsole.logger("runnel.bench.consumer")) }
        for client in clients {
            if groupId != nil {
                try await client.subscribe([topic])
            } else {
                await client.assign(partitions)
            }
        }

        let stop = StopFlag()
        let budget = RecordBudget(limit: limits.numRecords.map(UInt64.init) ?? backlog)
        let recorders = (0..<consumers).map { _ in LatencyRecorder() }
        let start = BenchClock.now()
        let runFirstReceipt = SharedValue<UInt64?>(nil)
        let workers = (0..<consumers).map { index in
            ConsumerWorker(consumer: clients[index], recorder: recorders[index], budget: budget,
                           duration: limits.duration.map { UInt64($0 * 1e9) }, runFirstReceipt: runFirstReceipt,
                           inactivity: UInt64(consumer.timeout) * 1_000_000, stop: stop)
        }
        let interrupt = InterruptHandler(stopping: stop)
        let ticker = ProgressTicker.start(intervalMilliseconds: output.reportingInterval, since: start, recorders: recorders)
        let firstReceipts = await withTaskGroup(of: UInt64?.self) { group in
            for worker in workers { group.addTask { await worker.run() } }
            return await group.reduce(into: [UInt64]()) { starts, start in if let start { starts.append(start) } }
        }
        let end = BenchClock.now()
        ticker?.cancel()
        interrupt.remove()
        for client in clients { await client.close() }

        let total = LatencyRecorder.Snapshot.merged(recorders.map { $0.total() })
        let windowStart = firstReceipts.min()
        let elapsed = windowStart.flatMap { first in total.lastAt.map { BenchClock.seconds($0 - first) } } ?? 0
        let expected = budget.limit
        if let expected, total.records < expected, !stop.isStopped {
            BenchConsole.note("stopped after \(consumer.timeout) ms without a record, \(Format.grouped(expected - total.records)) records short of \(Format.grouped(expected))")
        }
        let settings = BenchSettings.common(client: client, topic: topic, partitions: partitions.count, limits: limits)
            .adding(BenchSettings.consumer(consumerConfiguration, options: consumer))
            .adding(["consumers": .int(consumers)])
        let summary = BenchSummary(
            mode: "consume", latencyDescription: "poll", records: total.records, bytes: total.bytes, errors: total.errors,
            elapsedSeconds: elapsed, latency: total.histogram, settings: settings,
            extra: [
                ("expected", expected.map { .int($0) } ?? .null),
                ("startup_sec", windowStart.map { .figure(BenchClock.seconds($0 - start)) } ?? .null),
                ("total_sec", .figure(BenchClock.seconds(end - start))),
                ("interrupted", .bool(stop.isStopped)),
            ],
            errorSamples: LatencyRecorder.errorSamples(of: recorders))
        try BenchOutput.emit(summary, options: output, chartTitle: "runnel bench consume: poll latency by percentile",
                             chartSubtitle: BenchSettings.headline(settings))
    }
}
