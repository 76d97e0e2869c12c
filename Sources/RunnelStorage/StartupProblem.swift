/// Something start-up found wrong on disk and what it did about it, for the broker's log:
/// damaged segments cut and moved aside (errors), unreadable checkpoints reset and rebuilt
/// from the data (warnings).
public struct StartupProblem: Sendable, Equatable, CustomStringConvertible {
    public enum Severity: Sendable, Equatable {
        case warning
        case error
    }

    public var severity: Severity
    public var message: String

    public init(_ severity: Severity, _ message: String) {
        self.severity = severity
        self.message = message
    }

    public var description: String { message }
}
