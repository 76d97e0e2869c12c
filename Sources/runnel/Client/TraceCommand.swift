import ArgumentParser
import Foundation
import NIOCore
import RunnelClient
import RunnelProtocol

/// `runnel trace`: for one record, who produced it and which groups consumed past it — "did
/// the upstream send it, did the downstream take it". The record is read with a consumer;
/// every broker is asked what it knows (`RunnelTraceRequest`): the batch's producer id, epoch
/// and sequence, the producing client's `client.id` and address and the append time (kept by
/// the broker that led the partition then, in the segment's trace sidecar), and the committed
/// offset and commit time of each group on that partition.
struct TraceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace", abstract: "Show who produced a record and which consumer groups have consumed past it.")
    @OptionGroup var client: ClientOptions
    @Option(help: "The topic.") var topic: String
    @Option(help: "The partition (with --key, the default is the one Kafka's partitioner picks for the key).") var partition: Int32?
    @Option(help: "The record's offset.") var offset: Int64?
    @Option(help: "The record's key: the newest record with this key is traced.") var key: String?

    func validate() throws {
        guard (offset == nil) != (key == nil) else { throw ValidationError("give --offset (with --partition) or --key") }
        if offset != nil, partition == nil { throw ValidationError("--offset needs --partition") }
        if let offset, offset < 0 { throw ValidationError("--offset must not be negative") }
    }

    func run() async throws {
        let configuration = try client.configuration()
        try await client.withAdmin { admin in
            let metadata = try await admin.cluster.metadata(covering: [topic])
            guard let count = metadata.partitionCount(of: topic) else { throw ValidationError("topic \(topic) does not exist") }
            let partition = partition ?? KeyPartitioner.partition(forKey: Array((key ?? "").utf8), partitions: count)
            guard partition >= 0, partition < count else { throw ValidationError("\(topic) has no partition \(partition) (it has \(count))") }
            let topicPartition = TopicPartition(topic: topic, partition: partition)
            let record: ConsumerRecord
            if let key {
                guard let found = try await Self.newestRecord(withKey: key, in: topicPartition, admin: admin, configuration: configuration) else {
                    throw ValidationError("no record with key '\(key)' in \(topicPartition.topic)-\(partition)")
                }
                record = found
            } else {
                let (start, end) = try await Self.bounds(of: topicPartition, admin: admin)
                guard offset! >= start, offset! < end else {
                    throw ValidationError("offset \(offset!) is outside \(topicPartition.topic)-\(partition)'s records [\(start), \(end))")
                }
                guard let found = try await Self.record(at: offset!, in: topicPartition, configuration: configuration) else {
                    throw ValidationError("no record at offset \(offset!) of \(topicPartition.topic)-\(partition)")
                }
                record = found
            }
            let answers = try await Self.askEveryBroker(
                RunnelTraceRequest(topic: topic, partition: partition, offset: record.offset), admin: admin,
                brokers: metadata.brokers.keys.sorted())
            print(Self.report(record, answers))
        }
    }

    /// The partition's log start and end offsets.
    static func bounds(of partition: TopicPartition, admin: Admin) async throws -> (start: Int64, end: Int64) {
        let start = try await admin.listOffsets([partition: OffsetLookup.earliest])[partition]?.offset ?? 0
        let end = try await admin.listOffsets([partition: OffsetLookup.latest])[partition]?.offset ?? 0
        return (start, end)
    }

    /// The record at `offset`, or the first after it when that one is gone (compacted).
    static func record(at offset: Int64, in partition: TopicPartition, configuration: ClientConfiguration) async throws -> ConsumerRecord? {
        var found: ConsumerRecord?
        try await PartitionScan.read(from: [partition: offset], configuration: configuration, reset: .none, quietSeconds: 10) { record in
            found = record
            return true
        }
        return found
    }

    /// The newest record with `key`: the partition read from its start to its end.
    static func newestRecord(
        withKey key: String, in partition: TopicPartition, admin: Admin, configuration: ClientConfiguration
    ) async throws -> ConsumerRecord? {
        let (start, end) = try await bounds(of: partition, admin: admin)
        guard end > start else { return nil }
        var newest: ConsumerRecord?
        let wanted = ByteBuffer(string: key)
        try await PartitionScan.read(from: [partition: start], configuration: configuration, reset: .none, quietSeconds: 10) { record in
            if record.key == wanted { newest = record }
            return record.offset + 1 >= end
        }
        return newest
    }

    /// Every broker's answer (a broker that cannot be reached is reported and skipped).
    static func askEveryBroker(_ request: RunnelTraceRequest, admin: Admin, brokers: [Int32]) async throws -> [RunnelTraceResponse] {
        var answers: [RunnelTraceResponse] = []
        for broker in brokers {
            do {
                let connection = try await admin.cluster.connection(toNode: broker)
                answers.append(try await connection.send(request, version: 0))
            } catch {
                printError("broker \(broker) did not answer (\(error)): what only it knows is missing below")
            }
        }
        return answers
    }

    static func report(_ record: ConsumerRecord, _ answers: [RunnelTraceResponse]) -> String {
        var lines = ["record \(record.topic)-\(record.partition) at offset \(record.offset)"]
        lines.append("  key: \(record.key.map { String(buffer: $0) } ?? "null"), value: \(record.value.map { "\($0.readableBytes) bytes" } ?? "null (tombstone)"), timestamp: \(time(record.timestamp)) (\(record.timestampType))")
        if let batch = answers.lazy.compactMap(\.batch).first {
            let sequence = batch.baseSequence < 0 ? "none (not idempotent)" : "\(batch.baseSequence) (this record: \(batch.baseSequence + Int32(record.offset - batch.baseOffset)))"
            lines.append("  batch: offsets \(batch.baseOffset)..\(batch.lastOffset), producer id \(batch.producerId), epoch \(batch.producerEpoch), base sequence \(sequence)")
        }
        if let origin = answers.lazy.compactMap(\.origin).first {
            let who = origin.clientId.isEmpty && origin.address.isEmpty ? "a client not recorded (too many distinct clients in the segment)"
                : "client.id '\(origin.clientId)' from \(origin.address)"
            lines.append("  produced by: \(who), appended \(time(origin.appendTimeMs)) (broker clock)")
        } else {
            lines.append("  produced by: unknown (appended before tracing, by a leader since gone, rewritten by the log cleaner, or lost in a crash)")
        }
        for answer in answers where answer.errorCode != 0 {
            lines.append("  a broker answered \(KafkaErrorCode(rawValue: answer.errorCode).name): \(answer.errorMessage ?? "")")
        }
        let groups = answers.flatMap(\.groups).sorted { $0.groupId < $1.groupId }
        if groups.isEmpty {
            lines.append("  groups: none has committed an offset on this partition")
        } else {
            lines.append("  groups:")
            let rows = groups.map { group in
                [group.groupId, String(group.committedOffset), group.committedOffset > record.offset ? "yes" : "no", time(group.commitTimestamp)]
            }
            lines += formatTable(["GROUP", "COMMITTED-OFFSET", "CONSUMED-PAST", "COMMITTED-AT"], rows).map { "    " + $0 }
        }
        return lines.joined(separator: "\n")
    }

    /// RFC 3339 in UTC with milliseconds.
    private static func time(_ milliseconds: Int64) -> String {
        guard milliseconds >= 0 else { return "-" }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }
}
