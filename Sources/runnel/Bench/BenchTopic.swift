import Foundation
import Logging
import RunnelClient
import RunnelProtocol

/// A failure that ends a run before it measures anything, said in the user's terms.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Getting the topic ready, through the admin client only (Metadata, CreateTopics,
/// ListOffsets), so the benchmark runs against any Kafka-compatible broker.
enum BenchTopic {
    /// The topic's partitions, creating it first when it is missing and `create` is set, and
    /// waiting until each partition has a leader: a freshly created topic on a real Kafka
    /// cluster has none for a moment, and the first produce would just be retried.
    static func prepare(_ topic: String, partitions wanted: Int32? = nil, replicationFactor: Int16 = -1, admin: Admin, bootstrap: String,
                        create: Bool) async throws -> [TopicPartition] {
        var described: ClusterMetadata.Topic?
        do {
            described = try await reachable(bootstrap) { try await admin.describeTopics([topic]).first }
        } catch KafkaClientError.unknownTopic {
            described = nil
        }
        if described == nil {
            guard create else { throw BenchError("topic \(topic) does not exist (produce to it first, e.g. runnel bench produce --topic \(topic))") }
            do {
                try await reachable(bootstrap) {
                    try await admin.createTopic(topic, partitions: wanted ?? -1, replicationFactor: replicationFactor)
                }
                BenchConsole.note("created topic \(topic) with \(wanted.map(String.init) ?? "the broker's default number of") partitions")
            } catch KafkaClientError.broker(.topicAlreadyExists, _) {
                // Created by someone else (or auto-created) in between: use it.
            }
        } else if let wanted, let existing = described?.partitions.count, existing != Int(wanted) {
            BenchConsole.note("topic \(topic) already exists with \(existing) partitions; --partitions \(wanted) applies only to a topic the benchmark creates")
        }
        let deadline = Date().addingTimeInterval(30)
        while true {
            described = try? await admin.describeTopics([topic]).first
            if let partitions = described?.partitions, !partitions.isEmpty, partitions.allSatisfy({ $0.leader >= 0 }) {
                return partitions.map { TopicPartition(topic: topic, partition: $0.index) }
            }
            if Date() >= deadline { throw BenchError("topic \(topic) has partitions without a leader after 30 s") }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
    }

    /// The earliest and latest offset of each partition: what a consumer that starts now from
    /// the beginning has to read.
    static func backlog(of partitions: [TopicPartition], admin: Admin) async throws -> UInt64 {
        let earliest = try await admin.listOffsets(Dictionary(uniqueKeysWithValues: partitions.map { ($0, OffsetLookup.earliest) }))
        let latest = try await admin.listOffsets(Dictionary(uniqueKeysWithValues: partitions.map { ($0, OffsetLookup.latest) }))
        var total: UInt64 = 0
        for partition in partitions {
            let start = earliest[partition]?.offset ?? 0
            let end = latest[partition]?.offset ?? 0
            if end > start { total += UInt64(end - start) }
        }
        return total
    }

    /// Runs `body` with an admin client that is closed afterwards, whatever happens.
    static func withAdmin<T: Sendable>(_ configuration: ClientConfiguration, _ body: (Admin) async throws -> T) async throws -> T {
        try await Admin.with(configuration, body)
    }

    /// Runs `body`, turning "no broker answered" into one clear sentence instead of the
    /// client's retry-level error.
    static func reachable<T: Sendable>(_ bootstrap: String, _ body: () async throws -> T) async throws -> T {
        do {
            let result = try await body()
            return result
        } catch let error as KafkaClientError {
            switch error {
            case .connectionFailed, .noBrokerReachable, .disconnected, .requestTimedOut:
                throw BenchError("cannot reach a broker at \(bootstrap): \(error)")
            default:
                throw error
            }
        }
    }
}

/// Lines for the person watching: progress and notes go to stderr, so stdout carries only the
/// result (and with --json only the JSON object).
enum BenchConsole {
    static func note(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    /// The clients' logger: warnings (a retried InitProducerId, a failed heartbeat) are worth
    /// seeing next to the figures they may explain; their info lines are not.
    static func logger(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = .warning
        return logger
    }
}
