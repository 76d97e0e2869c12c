import ArgumentParser
import RunnelBroker

@main
struct RunnelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runnel",
        abstract: "Runnel: a Kafka-compatible partitioned-log streaming platform.",
        version: "runnel \(RunnelVersion.current)",
        subcommands: [BrokerCommand.self, ClusterCommand.self, TopicCommand.self, ProduceCommand.self, ConsumeCommand.self, GroupCommand.self, TraceCommand.self, BenchCommand.self])
}
