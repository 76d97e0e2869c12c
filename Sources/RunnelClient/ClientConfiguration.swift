import NIOCore

/// Settings every client shares (Kafka's common client configs).
public struct ClientConfiguration: Sendable {
    /// `bootstrap.servers`.
    public var bootstrapServers: [BrokerAddress]
    /// `client.id`.
    public var clientId: String = "runnel"
    /// `request.timeout.ms`.
    public var requestTimeout: TimeAmount = .seconds(30)
    /// `socket.connection.setup.timeout.ms`.
    public var connectTimeout: TimeAmount = .seconds(10)
    /// `retry.backoff.ms`.
    public var retryBackoff: TimeAmount = .milliseconds(100)
    /// `metadata.max.age.ms`: metadata older than this is refreshed before use.
    public var metadataMaxAge: TimeAmount = .minutes(5)

    public init(bootstrapServers: [BrokerAddress]) {
        self.bootstrapServers = bootstrapServers
    }

    /// From a `bootstrap.servers` string such as `host1:9092,host2:9092`.
    public init(bootstrapServers: String) throws {
        self.bootstrapServers = try BrokerAddress.list(bootstrapServers)
    }
}
