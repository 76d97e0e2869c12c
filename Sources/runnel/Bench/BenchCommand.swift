import ArgumentParser

/// `runnel bench`: load generators in the manner of Kafka's kafka-producer-perf-test and
/// kafka-consumer-perf-test, plus end-to-end latency. They use only the client library, so they
/// measure any Kafka-compatible broker, Runnel or not.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark a Kafka-compatible broker: producer and consumer throughput, latency.",
        discussion: """
            Progress goes to stderr every second; the summary to stdout (--json for one JSON object). \
            --hdr-file writes HdrHistogram's percentile distribution and --svg a latency-by-percentile chart.
            """,
        subcommands: [ProduceBenchCommand.self, ConsumeBenchCommand.self, EndToEndBenchCommand.self])
}
