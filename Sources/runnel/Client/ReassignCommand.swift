import ArgumentParser
import Foundation
import RunnelClient
import RunnelProtocol

/// `runnel topic reassign`: what `kafka-reassign-partitions.sh` does (--execute, --verify,
/// --cancel, --list), with the target given on the command line instead of a JSON file.
extension TopicCommand {
    struct Reassign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a topic's partitions to other brokers, follow or cancel the move, or list moves under way.",
            discussion: """
                The new replicas copy the partition from its leader; once every target replica is in sync the old \
                ones are dropped (their data is deleted from their brokers). The first target replica is the \
                preferred leader.

                  runnel topic reassign --topic orders --replicas 2,3,4 --wait
                  runnel topic reassign --topic orders --partition 0 --cancel
                  runnel topic reassign --list
                """)
        @OptionGroup var client: ClientOptions
        @Option(help: "The topic whose partitions move.") var topic: String?
        @Option(help: "A partition to move; repeatable (every partition of the topic when left out).") var partition: [Int32] = []
        @Option(help: "The target broker ids, comma-separated, preferred leader first.") var replicas: String?
        @Flag(help: "Cancel the moves of the partitions instead (back to their original replicas).") var cancel = false
        @Flag(help: "Wait until the moves have finished, printing each as it does (alone: follow moves started earlier).")
        var wait = false
        @Flag(help: "List every move under way and exit.") var list = false

        func validate() throws {
            if list { return }
            guard topic != nil else { throw ValidationError("give --topic (or --list)") }
            if cancel && replicas != nil { throw ValidationError("give --replicas or --cancel, not both") }
            if !cancel && replicas == nil && !wait { throw ValidationError("give --replicas, --cancel or --wait") }
            if let replicas, targetReplicas(replicas) == nil {
                throw ValidationError("--replicas takes broker ids separated by commas, such as 1,2,3")
            }
        }

        private func targetReplicas(_ text: String) -> [Int32]? {
            let ids = text.split(separator: ",").map { Int32($0.trimmingCharacters(in: .whitespaces)) }
            return ids.isEmpty || ids.contains(nil) ? nil : ids.compactMap { $0 }
        }

        func run() async throws {
            try await client.withAdmin { admin in
                if list {
                    let moving = try await admin.listPartitionReassignments()
                    if moving.isEmpty { print("No partition reassignment is in progress.") }
                    for move in moving { print(Self.describe(move)) }
                    return
                }
                guard let topic else { return }
                // A partition named twice is moved once.
                var indices = Array(Set(partition)).sorted()
                if indices.isEmpty { indices = try await admin.describeTopics([topic])[0].partitions.map(\.index) }
                let partitions = indices.map { TopicPartition(topic: topic, partition: $0) }
                // --wait alone follows moves started earlier (kafka-reassign-partitions --verify).
                if cancel || replicas != nil {
                    let target = replicas.flatMap(targetReplicas)
                    try await admin.alterPartitionReassignments(Dictionary(uniqueKeysWithValues: partitions.map { ($0, target) }))
                    for partition in partitions {
                        print(cancel ? "Cancelled the reassignment of \(partition)." : "Reassignment of \(partition) to \(target ?? []) started.")
                    }
                }
                if wait { try await Self.waitForCompletion(of: partitions, admin: admin) }
            }
        }

        static func describe(_ move: Admin.PartitionReassignment) -> String {
            func ids(_ list: [Int32]) -> String { list.map(String.init).joined(separator: ",") }
            return "\(move.partition): replicas \(ids(move.replicas)), adding \(ids(move.addingReplicas)), removing \(ids(move.removingReplicas))"
        }

        /// Polls ListPartitionReassignments until none of `partitions` is moving.
        static func waitForCompletion(of partitions: [TopicPartition], admin: Admin) async throws {
            var pending = Set(partitions)
            while !pending.isEmpty {
                let moving = Set(try await admin.listPartitionReassignments(Array(pending)).map(\.partition))
                for done in pending.subtracting(moving).sorted(by: { ($0.topic, $0.partition) < ($1.topic, $1.partition) }) {
                    print("Reassignment of \(done) complete.")
                }
                pending = moving
                if !pending.isEmpty { try await Task.sleep(for: .milliseconds(500)) }
            }
        }
    }
}
