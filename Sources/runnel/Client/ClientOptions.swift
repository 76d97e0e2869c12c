import ArgumentParser
import NIOCore
import RunnelClient

/// Options every client command takes, named as in Kafka's tools.
struct ClientOptions: ParsableArguments {
    @Option(name: .customLong("bootstrap-server"), help: "Brokers to start from, HOST:PORT[,HOST:PORT...].")
    var bootstrapServer: String = "127.0.0.1:9092"

    @Option(name: .customLong("client-id"), help: "The client.id sent to the broker.")
    var clientId: String = "runnel-cli"

    @Option(name: .customLong("request-timeout-ms"), help: "request.timeout.ms.")
    var requestTimeoutMs: Int64 = 30_000

    func configuration() throws -> ClientConfiguration {
        var configuration = try ClientConfiguration(bootstrapServers: bootstrapServer)
        configuration.clientId = clientId
        configuration.requestTimeout = .milliseconds(requestTimeoutMs)
        return configuration
    }
}

extension ClientOptions {
    /// Runs `body` with an admin client that is closed afterwards, whatever happens.
    func withAdmin<T: Sendable>(_ body: (Admin) async throws -> T) async throws -> T {
        try await Admin.with(configuration(), body)
    }
}
