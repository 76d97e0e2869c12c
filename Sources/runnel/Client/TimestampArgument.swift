import ArgumentParser
import Foundation

/// A point in time given on the command line: epoch milliseconds, or ISO-8601 as Kafka's tools
/// take it (`2026-11-26T10:00:00Z`, `2026-11-26T10:00:00.250+01:00`; no zone means UTC).
struct TimestampArgument: ExpressibleByArgument, Sendable {
    let milliseconds: Int64

    init(milliseconds: Int64) { self.milliseconds = milliseconds }

    init?(argument: String) {
        if let epoch = Int64(argument) {
            milliseconds = epoch
            return
        }
        var text = argument
        let hasZone = text.hasSuffix("Z") || text.range(of: #"[+-]\d\d:?\d\d$"#, options: .regularExpression) != nil
        if !hasZone { text += "Z" }
        if !text.contains("T") && text.count <= 11 { text = text.dropLast() + "T00:00:00Z" }
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]] {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = options
            if let date = formatter.date(from: text) {
                milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
                return
            }
        }
        return nil
    }

    static var defaultCompletionKind: CompletionKind { .default }
}

/// A `KEY=VALUE` argument (topic configs, headers).
struct KeyValueArgument: ExpressibleByArgument, Sendable {
    let key: String
    let value: String

    init?(argument: String) {
        guard let equals = argument.firstIndex(of: "="), equals != argument.startIndex else { return nil }
        key = String(argument[..<equals])
        value = String(argument[argument.index(after: equals)...])
    }
}

/// Writes to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
