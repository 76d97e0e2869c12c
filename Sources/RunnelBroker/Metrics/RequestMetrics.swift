import Prometheus
import RunnelProtocol
import Synchronization

/// Per-API request metrics, as Kafka's kafka.network RequestMetrics: requests by API and
/// version, error codes in the responses by API and code, and where a request's time went.
///
/// The phases of a request (seconds, histograms labelled `request`):
/// - queue: read off the socket until its connection starts it (requests run one at a time per
///   connection, in order);
/// - local: the handler's own work, until the answer is decided or handed to a wait;
/// - remote: waiting on others after that: acks=all produces for the followers, fsyncs when
///   the topic flushes per message (a long-polling fetch waits inside its handler: local);
/// - send: the response handed to the socket until the last byte was written;
/// - total: read off the socket until sent.
///
/// Every served API's instruments are made at start-up, so finding them takes no lock; an
/// API's counters per version and per error code are made on first use, behind that API's own
/// mutex (held for one dictionary lookup). A response whose codes are all NONE (the common
/// case) takes no lock at all. Thread-safe.
final class RequestMetrics: Sendable {
    /// One API's instruments.
    final class API: Sendable {
        let name: String
        let queueTime: DurationHistogram
        let localTime: DurationHistogram
        let remoteTime: DurationHistogram
        let sendTime: DurationHistogram
        let totalTime: DurationHistogram
        private let registry: PrometheusCollectorRegistry
        private let byVersion = Mutex<[Int16: Counter]>([:])
        private let byError = Mutex<[Int16: Counter]>([:])
        /// `error="NONE"`, made up front: most responses carry only it.
        private let none: Counter

        init(name: String, registry: PrometheusCollectorRegistry) {
            self.name = name
            self.registry = registry
            func histogram(_ metric: String, _ help: String) -> DurationHistogram {
                registry.latencyHistogram(metric, labels: [("request", name)], help: help)
            }
            queueTime = histogram("runnel_request_queue_time_seconds", "Time a request waited after it was read until its connection started it")
            localTime = histogram("runnel_request_local_time_seconds", "Time a request spent in its handler")
            remoteTime = histogram(
                "runnel_request_remote_time_seconds", "Time a request waited on others (acks=all followers, fsyncs) after its handler")
            sendTime = histogram("runnel_response_send_time_seconds", "Time to write a response to the socket")
            totalTime = histogram("runnel_request_total_time_seconds", "Time from reading a request to sending its response")
            none = Self.errorCounter(request: name, code: 0, registry: registry)
            byError.withLock { $0[0] = none }
        }

        private static func errorCounter(request: String, code: Int16, registry: PrometheusCollectorRegistry) -> Counter {
            registry.counter(
                "runnel_request_errors_total", labels: [("request", request), ("error", KafkaErrorCode(rawValue: code).name)],
                help: "Error codes in responses, by API and error (NONE counts successes)")
        }

        func countRequest(version: Int16) {
            let counter = byVersion.withLock { counters in
                if let counter = counters[version] { return counter }
                let counter = registry.counter("runnel_requests_total", labels: [("request", name), ("version", String(version))],
                    help: "Requests by API and version")
                counters[version] = counter
                return counter
            }
            counter.increment()
        }

        /// Counts each error code of one response (NONE included, as Kafka's ErrorsPerSec does).
        func countErrors(_ codes: [Int16: Int]) {
            for (code, count) in codes {
                let counter = byError.withLock { counters in
                    if let counter = counters[code] { return counter }
                    let counter = Self.errorCounter(request: name, code: code, registry: registry)
                    counters[code] = counter
                    return counter
                }
                counter.increment(by: Int64(count))
            }
        }

        func countErrors<Response: KafkaResponseMessage>(of response: Response, version: Int16) {
            var successes = 0
            var others: [Int16: Int] = [:]
            response.forEachErrorCode(version: version) { code in
                if code == 0 { successes += 1 } else { others[code, default: 0] += 1 }
            }
            if successes > 0 { none.increment(by: Int64(successes)) }
            if !others.isEmpty { countErrors(others) }
        }
    }

    private let apis: [Int16: API]

    /// Instruments for each of `apiKeys` (the APIs the broker serves, each with Kafka's name).
    init(registry: PrometheusCollectorRegistry, apiKeys: [Int16]) {
        var apis: [Int16: API] = [:]
        for key in apiKeys {
            guard let known = KafkaAPI(key: key) else { continue }
            apis[key] = API(name: known.name, registry: registry)
        }
        self.apis = apis
    }

    /// The instruments of API `key`; nil for a key not served (such a request closes its
    /// connection) or Runnel's own RunnelTrace, which is not counted.
    func api(_ key: Int16) -> API? { apis[key] }
}
