import RunnelProtocol

/// What can go wrong talking to a Kafka-compatible cluster.
public enum KafkaClientError: Error, Sendable, CustomStringConvertible, Equatable {
    case invalidConfiguration(String)
    case connectionFailed(BrokerAddress, String)
    /// The connection closed (or failed) with requests still waiting.
    case disconnected(BrokerAddress?, String)
    case requestTimedOut
    case malformedResponse(BrokerAddress?, String)
    /// The broker speaks no version of this API that the client does.
    case unsupportedByBroker(String, ClosedRange<Int16>?)
    /// The broker answered with an error code; `context` names the request and the resource.
    case broker(KafkaErrorCode, String)
    case unknownTopic(String)
    case unknownPartition(String, Int32)
    case noBrokerReachable([BrokerAddress])
    case closed

    public var description: String {
        switch self {
        case .invalidConfiguration(let why): return "invalid configuration: \(why)"
        case .connectionFailed(let address, let why): return "cannot connect to \(address): \(why)"
        case .disconnected(let address, let why): return "connection \(address.map { "to \($0) " } ?? "")lost: \(why)"
        case .requestTimedOut: return "request timed out"
        case .malformedResponse(_, let why): return "malformed response: \(why)"
        case .unsupportedByBroker(let api, let range):
            return "the broker does not support \(api) at any version this client speaks (broker: \(range.map { "\($0)" } ?? "none"))"
        case .broker(let code, let context): return "\(context): \(code.name) (\(code.rawValue))"
        case .unknownTopic(let topic): return "unknown topic \(topic)"
        case .unknownPartition(let topic, let partition): return "unknown partition \(topic)-\(partition)"
        case .noBrokerReachable(let addresses): return "no broker reachable at \(addresses.map(\.description).joined(separator: ","))"
        case .closed: return "the client is closed"
        }
    }

    /// Throws `.broker` unless `code` is NONE.
    public static func check(_ code: Int16, _ context: @autoclosure () -> String) throws {
        guard code != 0 else { return }
        throw KafkaClientError.broker(KafkaErrorCode(rawValue: code), context())
    }

    /// Whether trying again (after a metadata refresh or backoff) can succeed.
    public var isRetriable: Bool {
        switch self {
        case .disconnected, .requestTimedOut, .connectionFailed, .noBrokerReachable: return true
        case .broker(let code, _): return code.isRetriable
        default: return false
        }
    }
}
