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
/// An API's instruments are created on its first request, so only APIs in use show up.
/// Thread-safe: the maps are behind mutexes, each held for one dictionary lookup.
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
                    let counter = registry.counter("runnel_request_errors_total",
                        labels: [("request", name), ("error", KafkaErrorCode(rawValue: code).name)],
                        help: "Error codes in responses, by API and error (NONE counts successes)")
                    counters[code] = counter
                    return counter
                }
                counter.increment(by: Int64(count))
            }
        }

        func countErrors<Response: KafkaResponseMessage>(of response: Response) {
            var codes: [Int16: Int] = [:]
            response.forEachErrorCode { codes[$0, default: 0] += 1 }
            countErrors(codes)
        }
    }

    private let registry: PrometheusCollectorRegistry
    private let apis = Mutex<[Int16: API]>([:])

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// The instruments of API `key`; nil for a key Runnel has no messages for (such a request
    /// closes its connection and is not counted).
    func api(_ key: Int16) -> API? {
        apis.withLock { apis in
            if let api = apis[key] { return api }
            guard let known = KafkaAPI(key: key) else { return nil }
            let api = API(name: known.name, registry: registry)
            apis[key] = api
            return api
        }
    }
}
