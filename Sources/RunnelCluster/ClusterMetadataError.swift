import RunnelProtocol

/// Why a metadata change was refused, with the Kafka error code a broker answers.
public struct ClusterMetadataError: Error, Sendable, CustomStringConvertible {
    public let code: KafkaErrorCode
    public let message: String

    public init(_ code: KafkaErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(message) (error \(code.rawValue))" }
}
