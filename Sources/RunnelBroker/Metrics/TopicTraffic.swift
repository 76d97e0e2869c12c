import Prometheus
import Synchronization

/// Bytes and messages in and out per topic (Kafka's BrokerTopicMetrics: BytesInPerSec,
/// MessagesInPerSec, BytesOutPerSec), and the bytes followers fetched (ReplicationBytesOutPerSec).
///
/// Bytes in are the record batches appended as leader (after any recompression), messages in
/// their records; bytes out are the record bytes fetch responses carried to consumers.
///
/// At most `maxTopics` topics get their own series; traffic of later ones counts under
/// `topic="(other)"`. A deleted topic's series go once two scrapes in a row found it gone
/// (`retain(topics:)`: one could race a topic created between its metadata snapshot and it).
/// Thread-safe: the map is behind a mutex held for one lookup; the counters are atomic.
final class TopicTraffic: Sendable {
    /// One topic's counters.
    final class Counters: Sendable {
        let bytesIn: Counter
        let messagesIn: Counter
        let bytesOut: Counter

        init(topic: String, registry: PrometheusCollectorRegistry) {
            let labels = [("topic", topic)]
            bytesIn = registry.counter("runnel_topic_bytes_in_total", labels: labels, help: "Record batch bytes appended as leader, by topic")
            messagesIn = registry.counter("runnel_topic_messages_in_total", labels: labels, help: "Records appended as leader, by topic")
            bytesOut = registry.counter("runnel_topic_bytes_out_total", labels: labels, help: "Record bytes sent to consumers, by topic")
        }

        func unregister(from registry: PrometheusCollectorRegistry) {
            registry.unregisterCounter(bytesIn)
            registry.unregisterCounter(messagesIn)
            registry.unregisterCounter(bytesOut)
        }
    }

    /// Parentheses cannot appear in a Kafka topic name, so no real topic has this label.
    static let overflowTopic = "(other)"
    private let registry: PrometheusCollectorRegistry
    private let maxTopics: Int
    private let topics = Mutex<[String: Counters]>([:])
    /// Topics the last scrape found gone; dropped if the next finds them gone too.
    private let missing = Mutex<Set<String>>([])
    let replicationBytesOut: Counter

    init(registry: PrometheusCollectorRegistry, maxTopics: Int) {
        self.registry = registry
        self.maxTopics = maxTopics
        replicationBytesOut = registry.counter("runnel_replication_bytes_out_total", labels: [], help: "Record bytes sent to follower replicas")
    }

    func counters(_ topic: String) -> Counters {
        topics.withLock { topics in
            if let counters = topics[topic] { return counters }
            let name = topics.count < maxTopics ? topic : Self.overflowTopic
            if let overflow = topics[name] { return overflow }
            let counters = Counters(topic: name, registry: registry)
            topics[name] = counters
            return counters
        }
    }

    func appended(to topic: String, bytes: Int, records: Int) {
        let counters = counters(topic)
        counters.bytesIn.increment(by: Int64(bytes))
        counters.messagesIn.increment(by: Int64(records))
    }

    func fetched(from topic: String, bytes: Int, byFollower: Bool) {
        guard bytes > 0 else { return }
        if byFollower {
            replicationBytesOut.increment(by: Int64(bytes))
        } else {
            counters(topic).bytesOut.increment(by: Int64(bytes))
        }
    }

    /// Drops the series of topics that no longer exist (two scrapes in a row).
    func retain(topics existing: Set<String>) {
        let gone: [Counters] = topics.withLock { topics in
            let absent = Set(topics.keys.filter { $0 != Self.overflowTopic && !existing.contains($0) })
            let confirmed = missing.withLock { missing in
                defer { missing = absent }
                return absent.intersection(missing)
            }
            return confirmed.compactMap { topics.removeValue(forKey: $0) }
        }
        for counters in gone { counters.unregister(from: registry) }
    }
}
