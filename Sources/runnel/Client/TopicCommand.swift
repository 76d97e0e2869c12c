import ArgumentParser
import RunnelClient

/// `runnel topic`: what `kafka-topics.sh` does.
struct TopicCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topic", abstract: "Create, list, describe, alter, reassign and delete topics.",
        subcommands: [Create.self, List.self, Describe.self, Alter.self, Reassign.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a topic.")
        @OptionGroup var client: ClientOptions
        @Option(help: "The topic's name.") var topic: String
        @Option(help: "Partition count (the broker's num.partitions when left out).") var partitions: Int32 = -1
        @Option(name: .customLong("replication-factor"), help: "Replicas per partition (the broker's default when left out).")
        var replicationFactor: Int16 = -1
        @Option(name: .customLong("config"), help: "A topic config KEY=VALUE, such as retention.ms=86400000; repeatable.")
        var configs: [KeyValueArgument] = []
        @Flag(name: .customLong("if-not-exists"), help: "Succeed when the topic already exists.") var ifNotExists = false

        func run() async throws {
            let configs = Dictionary(configs.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
            try await client.withAdmin { admin in
                do {
                    try await admin.createTopic(topic, partitions: partitions, replicationFactor: replicationFactor, configs: configs)
                    print("Created topic \(topic).")
                } catch KafkaClientError.broker(.topicAlreadyExists, _) where ifNotExists {
                    print("Topic \(topic) already exists.")
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List topic names.")
        @OptionGroup var client: ClientOptions
        @Flag(name: .customLong("include-internal"), help: "Also list internal topics such as __consumer_offsets.") var includeInternal = false

        func run() async throws {
            let names = try await client.withAdmin { try await $0.listTopics(includeInternal: includeInternal) }
            for name in names { print(name) }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show partitions, leaders, replicas and non-default configs.")
        @OptionGroup var client: ClientOptions
        @Option(help: "The topic (every topic when left out).") var topic: String?

        func run() async throws {
            try await client.withAdmin { admin in
                var names = topic.map { [$0] } ?? []
                if topic == nil { names = try await admin.listTopics() }
                for description in try await admin.describeTopics(names) {
                    let configs = try await admin.describeConfigs(.topic, description.name).filter { !$0.isDefault }
                    let replicationFactor = description.partitions.first?.replicas.count ?? 0
                    print("Topic: \(description.name)\tTopicId: \(description.topicId)\tPartitionCount: \(description.partitions.count)"
                          + "\tReplicationFactor: \(replicationFactor)\tConfigs: \(configs.map { "\($0.name)=\($0.value ?? "")" }.joined(separator: ","))")
                    for partition in description.partitions {
                        print("\tTopic: \(description.name)\tPartition: \(partition.index)\tLeader: \(partition.leader)"
                              + "\tReplicas: \(partition.replicas.map(String.init).joined(separator: ","))"
                              + "\tIsr: \(partition.isr.map(String.init).joined(separator: ","))")
                    }
                }
            }
        }
    }

    struct Alter: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add partitions, set or remove topic configs.")
        @OptionGroup var client: ClientOptions
        @Option(help: "The topic.") var topic: String
        @Option(help: "The new, higher partition count.") var partitions: Int32?
        @Option(name: .customLong("config"), help: "Set a topic config KEY=VALUE; repeatable.") var configs: [KeyValueArgument] = []
        @Option(name: .customLong("delete-config"), help: "Return a topic config to its default; repeatable.") var deleteConfigs: [String] = []

        func validate() throws {
            if partitions == nil && configs.isEmpty && deleteConfigs.isEmpty {
                throw ValidationError("nothing to alter: give --partitions, --config or --delete-config")
            }
        }

        func run() async throws {
            let configs = Dictionary(configs.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
            try await client.withAdmin { admin in
                if let partitions {
                    try await admin.createPartitions(topic, total: partitions)
                    print("Topic \(topic) now has \(partitions) partitions.")
                }
                if !configs.isEmpty || !deleteConfigs.isEmpty {
                    try await admin.alterConfigs(.topic, topic, set: configs, delete: deleteConfigs)
                    print("Updated configs of topic \(topic).")
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete topics and their data.")
        @OptionGroup var client: ClientOptions
        @Option(help: "A topic to delete; repeatable.") var topic: [String]

        func run() async throws {
            try await client.withAdmin { try await $0.deleteTopics(topic) }
            for name in topic { print("Deleted topic \(name).") }
        }
    }
}
