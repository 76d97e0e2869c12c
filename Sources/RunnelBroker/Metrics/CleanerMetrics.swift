import Prometheus
import RunnelStorage

/// The log cleaner's figures (Kafka's kafka.log:type=LogCleaner metrics): rounds and their
/// time, bytes and records read and kept, and partitions given up on (uncleanable until restart).
/// Thread-safe: the instruments are.
final class CleanerMetrics: Sendable {
    let rounds: DurationHistogram
    let bytesRead: Counter
    let bytesWritten: Counter
    let recordsRead: Counter
    let recordsKept: Counter
    let failures: Counter

    init(registry: PrometheusCollectorRegistry) {
        rounds = registry.latencyHistogram("runnel_log_cleaner_round_seconds", help: "Finished cleaning rounds and their time (count: rounds)")
        bytesRead = registry.counter("runnel_log_cleaner_read_bytes_total", help: "Bytes the log cleaner read")
        bytesWritten = registry.counter("runnel_log_cleaner_written_bytes_total", help: "Bytes the log cleaner wrote to cleaned segments")
        recordsRead = registry.counter("runnel_log_cleaner_read_records_total", help: "Records the log cleaner read")
        recordsKept = registry.counter("runnel_log_cleaner_kept_records_total", help: "Records the log cleaner kept (the rest were superseded)")
        failures = registry.counter(
            "runnel_log_cleaner_uncleanable_partitions_total", help: "Partitions the log cleaner gave up on until restart")
    }

    func record(_ figures: LogCleaner.RoundFigures) {
        rounds.record(.nanoseconds(Int64(figures.seconds * 1e9)))
        bytesRead.increment(by: Int64(figures.bytesRead))
        bytesWritten.increment(by: Int64(figures.bytesWritten))
        recordsRead.increment(by: Int64(figures.recordsRead))
        recordsKept.increment(by: Int64(figures.recordsKept))
    }
}
