/// A live broker, as it registered itself: present while its lease lives.
public struct BrokerRegistration: Codable, Sendable, Equatable {
    public var brokerId: Int32
    /// Where clients reach it (`advertised.listeners`).
    public var host: String
    public var port: Int32
    /// `broker.rack`, for rack-aware placement; nil when not set.
    public var rack: String?
    /// A random id per broker process: tells this process's own registration from another's.
    public var incarnation: String

    public init(brokerId: Int32, host: String, port: Int32, rack: String? = nil, incarnation: String) {
        self.brokerId = brokerId
        self.host = host
        self.port = port
        self.rack = rack
        self.incarnation = incarnation
    }
}
