import ArgumentParser
import Foundation
import NIOCore
import RunnelClient
import RunnelProtocol

/// `runnel consume`: what `kafka-console-consumer.sh` does, with JSON output and replay from an
/// offset or a point in time.
struct ConsumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume", abstract: "Print records of a topic.")

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

    @OptionGroup var client: ClientOptions
    @Option(help: "The topic to read.") var topic: String
    @Option(help: "Read only this partition.") var partition: Int32?
    @Option(help: "Consume in this consumer group (committing offsets as it goes).") var group: String?
    @Flag(name: .customLong("from-beginning"), help: "Start at the earliest record (a group without committed offsets too).")
    var fromBeginning = false
    @Option(help: "Start at this offset (in every partition read).") var offset: Int64?
    @Option(name: .customLong("from-timestamp"), help: "Start at the first record whose timestamp is at or after this time: epoch ms or ISO-8601.")
    var fromTimestamp: TimestampArgument?
    @Option(name: .customLong("max-messages"), help: "Exit after this many records.") var maxMessages: Int?
    @Option(name: .customLong("timeout-ms"), help: "Exit when no record arrived for this long.") var timeoutMs: Int64?
    @Option(help: "text: the value (with --print-* fields before it); json: one object per record with every field.")
    var format: Format = .text
    @Flag(name: .customLong("print-key")) var printKey = false
    @Flag(name: .customLong("print-partition")) var printPartition = false
    @Flag(name: .customLong("print-offset")) var printOffset = false
    @Flag(name: .customLong("print-timestamp")) var printTimestamp = false
    @Flag(name: .customLong("print-headers")) var printHeaders = false

    func validate() throws {
        let starts = [fromBeginning, offset != nil, fromTimestamp != nil].filter { $0 }.count
        if starts > 1 { throw ValidationError("give at most one of --from-beginning, --offset and --from-timestamp") }
        if group != nil && (offset != nil || fromTimestamp != nil || partition != nil) {
            throw ValidationError("--offset, --from-timestamp and --partition read without a group; move a group with `runnel group reset-offsets`")
        }
    }

    func run() async throws {
        var configuration = ConsumerConfiguration(client: try client.configuration(), groupId: group)
        configuration.autoOffsetReset = fromBeginning ? .earliest : .latest
        configuration.fetchMaxWait = .milliseconds(200)
        let consumer = Consumer(configuration: configuration)
        do {
            try await consume(with: consumer)
            await consumer.close()
        } catch {
            await consumer.close()
            throw error
        }
    }

    private func consume(with consumer: Consumer) async throws {
        if group != nil {
            try await consumer.subscribe([topic])
        } else {
            let admin = Admin(configuration: try client.configuration())
            let partitions = try await admin.describeTopics([topic])[0].partitions.map(\.index)
            await admin.close()
            if let partition, !partitions.contains(partition) { throw KafkaClientError.unknownPartition(topic, partition) }
            let assigned = (partition.map { [$0] } ?? partitions).map { TopicPartition(topic: topic, partition: $0) }
            await consumer.assign(assigned)
            if let offset {
                for topicPartition in assigned { await consumer.seek(topicPartition, to: offset) }
            } else if let fromTimestamp {
                try await consumer.seek(toTimestamp: fromTimestamp.milliseconds)
            } else if fromBeginning {
                try await consumer.seekToBeginning()
            } else {
                try await consumer.seekToEnd()
            }
        }
        var printed = 0
        var lastRecord = NIODeadline.now()
        while maxMessages.map({ printed < $0 }) ?? true {
            let records = try await consumer.poll(timeout: .milliseconds(250))
            if records.isEmpty {
                if let timeoutMs, NIODeadline.now() - lastRecord >= .milliseconds(timeoutMs) { break }
                continue
            }
            lastRecord = .now()
            var output = ""
            for record in records {
                if let maxMessages, printed >= maxMessages { break }
                // Timestamps need not grow with offsets (producers set CreateTime): after seeking
                // to the first record at or after T, later ones from before T are skipped.
                if let fromTimestamp, record.timestamp < fromTimestamp.milliseconds { continue }
                output += format == .json ? json(record) : text(record)
                output += "\n"
                printed += 1
            }
            FileHandle.standardOutput.write(Data(output.utf8))
        }
        if group != nil { try? await consumer.commit() }
        printError("Processed a total of \(printed) messages")
    }

    private func text(_ record: ConsumerRecord) -> String {
        var fields: [String] = []
        if printTimestamp { fields.append("\(record.timestampType == .logAppendTime ? "LogAppendTime" : "CreateTime"):\(record.timestamp)") }
        if printPartition { fields.append("Partition:\(record.partition)") }
        if printOffset { fields.append("Offset:\(record.offset)") }
        if printHeaders {
            fields.append(record.headers.isEmpty ? "NO_HEADERS" : record.headers.map { "\($0.key):\($0.value.map { String(buffer: $0) } ?? "null")" }.joined(separator: ","))
        }
        if printKey { fields.append(record.key.map { String(buffer: $0) } ?? "null") }
        fields.append(record.value.map { String(buffer: $0) } ?? "null")
        return fields.joined(separator: "\t")
    }

    private func json(_ record: ConsumerRecord) -> String {
        var headers: [String: Any] = [:]
        for header in record.headers { headers[header.key] = header.value.map { String(buffer: $0) } ?? NSNull() }
        let object: [String: Any] = [
            "topic": record.topic, "partition": record.partition, "offset": record.offset, "timestamp": record.timestamp,
            "timestamp_type": record.timestampType == .logAppendTime ? "LogAppendTime" : "CreateTime",
            "key": record.key.map { String(buffer: $0) } ?? NSNull(), "value": record.value.map { String(buffer: $0) } ?? NSNull(),
            "headers": headers,
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
