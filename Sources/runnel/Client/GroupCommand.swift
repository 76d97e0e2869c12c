import ArgumentParser
import Foundation
import RunnelClient
import RunnelProtocol

/// `runnel group`: what `kafka-consumer-groups.sh` does.
struct GroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group", abstract: "List, describe, reset and delete consumer groups.",
        subcommands: [List.self, Describe.self, ResetOffsets.self, Delete.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List consumer groups.")
        @OptionGroup var client: ClientOptions
        @Flag(help: "Also print each group's state and protocol type.") var state = false

        func run() async throws {
            for group in try await client.withAdmin({ try await $0.listGroups() }) {
                print(state ? "\(group.groupId)\t\(group.state)\t\(group.protocolType)" : group.groupId)
            }
        }
    }

    struct ResetOffsets: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-offsets",
            abstract: "Move a group's committed offsets. Prints the plan; changes nothing without --execute.")
        @OptionGroup var client: ClientOptions
        @Option(help: "The group (it must have no active members).") var group: String
        @Option(help: "A topic whose offsets move; repeatable.") var topic: [String] = []
        @Flag(name: .customLong("all-topics"), help: "Every topic the group has committed offsets for.") var allTopics = false
        @Flag(name: .customLong("to-earliest")) var toEarliest = false
        @Flag(name: .customLong("to-latest")) var toLatest = false
        @Option(name: .customLong("to-offset"), parsing: .unconditional) var toOffset: Int64?
        @Option(name: .customLong("to-datetime"), help: "ISO-8601 or epoch ms: the first offset at or after that time.")
        var toDatetime: TimestampArgument?
        @Option(name: .customLong("shift-by"), parsing: .unconditional, help: "Move each committed offset by N (negative moves back).") var shiftBy: Int64?
        @Flag(help: "Commit the new offsets (the default is a dry run).") var execute = false

        func validate() throws {
            let targets = [toEarliest, toLatest, toOffset != nil, toDatetime != nil, shiftBy != nil].filter { $0 }.count
            guard targets == 1 else { throw ValidationError("give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by") }
            guard allTopics != !topic.isEmpty else { throw ValidationError("give --topic or --all-topics") }
        }

        func run() async throws {
            let plan = try await client.withAdmin { admin -> [TopicPartition: Int64] in
                let description = try await admin.describeGroup(group)
                if execute, !description.members.isEmpty {
                    throw ValidationError("group \(group) has \(description.members.count) active member(s); stop them before resetting its offsets")
                }
                let committed = try await admin.groupOffsets(group)
                let partitions: [TopicPartition]
                if allTopics {
                    partitions = Array(committed.keys)
                } else {
                    partitions = try await admin.describeTopics(topic).flatMap { description in
                        description.partitions.map { TopicPartition(topic: description.name, partition: $0.index) }
                    }
                }
                let starts = try await admin.listOffsets(Dictionary(uniqueKeysWithValues: partitions.map { ($0, OffsetLookup.earliest) }))
                let ends = try await admin.listOffsets(Dictionary(uniqueKeysWithValues: partitions.map { ($0, OffsetLookup.latest) }))
                var byTime: [TopicPartition: OffsetLookup.Found] = [:]
                if let toDatetime {
                    byTime = try await admin.listOffsets(Dictionary(uniqueKeysWithValues: partitions.map { ($0, toDatetime.milliseconds) }))
                }
                var plan: [TopicPartition: Int64] = [:]
                for partition in partitions {
                    let start = starts[partition]?.offset ?? 0
                    let end = ends[partition]?.offset ?? 0
                    let target: Int64
                    if toEarliest {
                        target = start
                    } else if toLatest {
                        target = end
                    } else if let toOffset {
                        target = toOffset
                    } else if toDatetime != nil {
                        let found = byTime[partition]?.offset ?? -1
                        target = found >= 0 ? found : end
                    } else {
                        guard let current = committed[partition] else {
                            throw ValidationError("cannot shift the offset of \(partition): the group has no committed offset there")
                        }
                        target = current + (shiftBy ?? 0)
                    }
                    // As Kafka's tool does: an offset outside the log is clamped into it.
                    plan[partition] = min(max(target, start), end)
                }
                if execute { try await admin.alterGroupOffsets(group, plan) }
                return plan
            }
            let rows = plan.sorted { ($0.key.topic, $0.key.partition) < ($1.key.topic, $1.key.partition) }.map {
                [group, $0.key.topic, "\($0.key.partition)", "\($0.value)"]
            }
            printTable(["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"], rows)
            if !execute { printError("Dry run: nothing changed. Add --execute to commit these offsets.") }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete consumer groups without active members, and their offsets.")
        @OptionGroup var client: ClientOptions
        @Option(help: "A group to delete; repeatable.") var group: [String]

        func run() async throws {
            try await client.withAdmin { try await $0.deleteGroups(group) }
            for name in group { print("Deleted group \(name).") }
        }
    }
}

/// Prints rows under a header, columns padded to their widest cell.
func printTable(_ header: [String], _ rows: [[String]]) {
    for line in formatTable(header, rows) { print(line) }
}

/// The lines of a table with columns padded to their widest cell.
func formatTable(_ header: [String], _ rows: [[String]]) -> [String] {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    return all.map { row in
        row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
            .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
    }
}
