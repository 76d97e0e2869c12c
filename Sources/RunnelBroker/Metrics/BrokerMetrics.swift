import Prometheus
import RunnelProtocol

/// The broker's metrics: one Prometheus registry per broker, what `GET /metrics` prints.
///
/// Names follow Prometheus' conventions (`runnel_` prefix, base units, `_total` counters) with
/// Kafka's meanings: `runnel_topic_bytes_in_total` is Kafka's BytesInPerSec, the request
/// histograms are kafka.network RequestMetrics' RequestQueueTimeMs, LocalTimeMs, RemoteTimeMs,
/// ResponseSendTimeMs and TotalTimeMs. ARCHITECTURE.md ("Metrics") lists every series.
///
/// Two kinds of series live here. Counters and histograms are updated where the event happens
/// (requests, appends, fetches, fsyncs, rebalances, ISR changes); they are created up front or on
/// first use and are cheap to update (atomics, or one short lock per histogram sample). Gauges of
/// the broker's state (partitions, logs, groups, lag, connections) are computed when scraped, by
/// `StateGauges`, so no code path pays for them between scrapes.
///
/// Label cardinality is bounded: per-topic series stop at `maxTopicSeries` topics (later topics
/// count under `topic="(other)"`), per-partition and per-group-partition gauges at
/// `maxPartitionSeries` series each (the rest are left out and
/// `runnel_metrics_series_dropped` says how many).
///
/// Thread-safe: every instrument is; the registry locks its own state.
public final class BrokerMetrics: Sendable {
    /// Where every series of this broker is registered (the process's swift-metrics backend
    /// too, when `runnel broker` bootstraps it).
    public let registry: PrometheusCollectorRegistry
    let traffic: TopicTraffic
    /// fsyncs of log files and partition directories (Kafka's LogFlushRateAndTimeMs).
    let logFlush: DurationHistogram
    let connectionsAccepted: Counter
    let connectionsRefused: Counter
    /// Completed rebalances: a classic group's generation sync, a consumer group's new epoch.
    let rebalances: Counter
    /// Replicas leaving and joining the ISR of partitions this broker leads, as the metadata
    /// brings the change, whoever wrote it (Kafka's IsrShrinksPerSec/IsrExpandsPerSec).
    let isrShrinks: Counter
    let isrExpands: Counter
    let cleaner: CleanerMetrics
    let maxTopicSeries: Int
    let maxPartitionSeries: Int

    public init(maxTopicSeries: Int = 1000, maxPartitionSeries: Int = 10_000) {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        self.maxTopicSeries = maxTopicSeries
        self.maxPartitionSeries = maxPartitionSeries
        traffic = TopicTraffic(registry: registry, maxTopics: maxTopicSeries)
        logFlush = registry.latencyHistogram(
            "runnel_log_flush_seconds", help: "fsync of a log's files and directory, seconds (count: fsyncs)")
        connectionsAccepted = registry.counter("runnel_connections_accepted_total", labels: [], help: "Client connections accepted")
        connectionsRefused = registry.counter("runnel_connections_refused_total", labels: [],
            help: "Client connections refused by max.connections or max.connections.per.ip")
        rebalances = registry.counter("runnel_group_rebalances_total", labels: [], help: "Group rebalances completed by this coordinator")
        isrShrinks = registry.counter("runnel_isr_shrinks_total", labels: [], help: "Replicas removed from the ISR of partitions this broker leads")
        isrExpands = registry.counter("runnel_isr_expands_total", labels: [], help: "Replicas added to the ISR of partitions this broker leads")
        cleaner = CleanerMetrics(registry: registry)
    }

    /// Latency buckets from 100 µs to 30 s: broker requests mostly take well under 5 ms, which
    /// Prometheus' default buckets (from 5 ms) would not tell apart.
    static let latencyBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
    ]
}

extension PrometheusCollectorRegistry {
    /// A counter named `name` (already in Prometheus form) with its HELP text.
    func counter(_ name: String, labels: [(String, String)] = [], help: String) -> Counter {
        makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
    }

    func gauge(_ name: String, labels: [(String, String)] = [], help: String) -> Gauge {
        makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
    }

    /// A latency histogram in seconds, with `BrokerMetrics.latencyBuckets`.
    func latencyHistogram(_ name: String, labels: [(String, String)] = [], help: String) -> DurationHistogram {
        makeDurationHistogram(
            descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels, buckets: BrokerMetrics.latencyBuckets)
    }
}
