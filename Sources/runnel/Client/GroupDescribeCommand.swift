import ArgumentParser
import Foundation
import NIOCore
import RunnelClient
import RunnelProtocol

extension GroupCommand {
    /// `runnel group describe`: kafka-consumer-groups' `--describe`, with the lag in records and
    /// in seconds (the age of each partition's oldest unconsumed record), `--members`,
    /// `--state` and `--all-groups`.
    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a group's committed offsets with the lag in records and seconds, or its members (--members) or state (--state).")
        @OptionGroup var client: ClientOptions
        @Option(help: "The group.") var group: String?
        @Flag(name: .customLong("all-groups"), help: "Every group the cluster knows.") var allGroups = false
        @Flag(help: "One line per member: its id, host, client id and partition count.") var members = false
        @Flag(help: "One line per group: its assignor, state and member count.") var state = false

        func validate() throws {
            guard (group != nil) != allGroups else { throw ValidationError("give --group GROUP or --all-groups") }
            guard !(members && state) else { throw ValidationError("give at most one of --members and --state") }
        }

        func run() async throws {
            let configuration = try client.configuration()
            let (header, rows) = try await client.withAdmin { admin -> ([String], [[String]]) in
                let groups = try await allGroups ? admin.listGroups().map(\.groupId).sorted() : [group!]
                var rows: [[String]] = []
                for groupId in groups {
                    let description = try await admin.describeGroup(groupId)
                    if state {
                        rows.append([groupId, description.assignor.isEmpty ? "-" : description.assignor, description.state, "\(description.members.count)"])
                    } else if members {
                        rows += description.members.map {
                            [groupId, $0.memberId, $0.clientHost, $0.clientId, "\($0.assignment.count)"]
                        }
                    } else {
                        printError("Consumer group '\(groupId)': \(description.state), \(description.members.count) member(s)"
                                   + (description.assignor.isEmpty ? "" : ", assignor \(description.assignor)"))
                        rows += try await offsetRows(groupId, description, admin: admin, configuration: configuration)
                    }
                }
                if state { return (["GROUP", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"], rows) }
                if members { return (["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"], rows) }
                return (["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "LAG-SECONDS", "CONSUMER-ID", "HOST", "CLIENT-ID"], rows)
            }
            printTable(header, rows)
        }

        /// Per partition the group committed or owns: offsets, lag, lag in seconds and owner.
        private func offsetRows(
            _ groupId: String, _ description: Admin.GroupDescription, admin: Admin, configuration: ClientConfiguration
        ) async throws -> [[String]] {
            let committed = try await admin.groupOffsets(groupId)
            var owners: [TopicPartition: Admin.GroupMember] = [:]
            for member in description.members { for partition in member.assignment { owners[partition] = member } }
            let partitions = Set(committed.keys).union(owners.keys).sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
            let ends = try await admin.listOffsets(Dictionary(uniqueKeysWithValues: partitions.map { ($0, OffsetLookup.latest) }))
            var lagging: [TopicPartition: Int64] = [:]
            for partition in partitions {
                if let current = committed[partition], let end = ends[partition]?.offset, end > current { lagging[partition] = current }
            }
            let ages = try await Self.ageOfOldestUnconsumed(lagging, configuration: configuration)
            return partitions.map { partition in
                let current = committed[partition]
                let end = ends[partition]?.offset
                let lag = current.flatMap { current in end.map { max(0, $0 - current) } }
                let seconds = lag.flatMap { $0 == 0 ? "0" : ages[partition].map { String(format: "%.1f", $0) } }
                let owner = owners[partition]
                return [groupId, partition.topic, "\(partition.partition)", current.map(String.init) ?? "-", end.map(String.init) ?? "-",
                        lag.map(String.init) ?? "-", seconds ?? "-", owner?.memberId ?? "-", owner?.clientHost ?? "-", owner?.clientId ?? "-"]
            }
        }

        /// Seconds since the timestamp of the first record at or after each committed offset
        /// (the oldest record the group has not consumed), read with a consumer outside the
        /// group; a partition with nothing readable within 5 s is left out.
        static func ageOfOldestUnconsumed(
            _ committed: [TopicPartition: Int64], configuration: ClientConfiguration
        ) async throws -> [TopicPartition: Double] {
            var timestamps: [TopicPartition: Int64] = [:]
            // A committed offset below the log start: the oldest record there is.
            try await PartitionScan.read(from: committed, configuration: configuration, reset: .earliest, quietSeconds: 5) { record in
                timestamps[TopicPartition(topic: record.topic, partition: record.partition)] = record.timestamp
                return true
            }
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            return timestamps.mapValues { Double(max(0, now - $0)) / 1000 }
        }
    }
}
