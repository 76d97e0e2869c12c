import Foundation
import Histogram

/// A JSON value of the `--json` report. Its own type, not `Any`, so that the report is
/// `Codable`-encoded with sorted keys and numbers print as Swift prints them (no 0.1 turning
/// into 0.10000000000000001).
public enum ReportValue: Encodable, Equatable, Sendable {
    case integer(Int64)
    case double(Double)
    case string(String)
    case bool(Bool)
    case null
    case array([ReportValue])
    case object([String: ReportValue])

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .integer(let value): try container.encode(value)
        case .double(let value): try container.encode(value.isFinite ? value : 0)
        case .string(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .null: try container.encodeNil()
        case .array(let values): try container.encode(values)
        case .object(let values): try container.encode(values)
        }
    }

    public static func int(_ value: some BinaryInteger) -> ReportValue { .integer(Int64(clamping: value)) }

    /// A figure rounded to three decimals: microsecond resolution for milliseconds, more than
    /// enough for rates, and short enough to read.
    public static func figure(_ value: Double) -> ReportValue { .double((value * 1_000).rounded() / 1_000) }

    /// How the value reads in the human summary.
    public var text: String {
        switch self {
        case .integer(let value): return Format.grouped(value)
        case .double(let value): return Format.trimmed(value)
        case .string(let value): return value
        case .bool(let value): return value ? "yes" : "no"
        case .null: return "-"
        case .array(let values): return values.map(\.text).joined(separator: ", ")
        case .object(let values): return values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.text)" }.joined(separator: " ")
        }
    }
}

/// The result of one benchmark run: what it measured and the settings it ran with, and the
/// two ways it is printed — one sorted-key JSON object (`--json`) or a short human summary.
///
/// Throughput counts payload bytes (record values), and MB is 2^20 bytes, as Kafka's
/// kafka-producer-perf-test and kafka-consumer-perf-test count them, so figures compare.
public struct BenchSummary: Sendable {
    /// `produce`, `consume` or `e2e`.
    public var mode: String
    /// What the latency histogram measures, in words for the summary (e.g. "send → ack").
    public var latencyDescription: String
    public var records: UInt64
    public var bytes: UInt64
    public var errors: UInt64
    /// The measured window: first send to last acknowledgement, or first to last record received.
    public var elapsedSeconds: Double
    /// Microseconds.
    public var latency: Histogram<UInt64>
    /// The options the run used, reported under `settings`.
    public var settings: [String: ReportValue]
    /// Figures particular to the mode (e2e: sent, lost, duplicates...), in print order.
    public var extra: [(key: String, value: ReportValue)]
    public var errorSamples: [(message: String, count: UInt64)]

    public init(mode: String, latencyDescription: String, records: UInt64, bytes: UInt64, errors: UInt64, elapsedSeconds: Double,
                latency: Histogram<UInt64>, settings: [String: ReportValue], extra: [(key: String, value: ReportValue)] = [],
                errorSamples: [(message: String, count: UInt64)] = []) {
        self.mode = mode
        self.latencyDescription = latencyDescription
        self.records = records
        self.bytes = bytes
        self.errors = errors
        self.elapsedSeconds = elapsedSeconds
        self.latency = latency
        self.settings = settings
        self.extra = extra
        self.errorSamples = errorSamples
    }

    public static let bytesPerMegabyte = 1_048_576.0

    public var recordsPerSecond: Double { elapsedSeconds > 0 ? Double(records) / elapsedSeconds : 0 }
    public var megabytesPerSecond: Double { elapsedSeconds > 0 ? Double(bytes) / Self.bytesPerMegabyte / elapsedSeconds : 0 }

    /// The latency at `percentile` (0...100) in milliseconds; 0 without samples.
    public func milliseconds(atPercentile percentile: Double) -> Double {
        latency.totalCount == 0 ? 0 : Double(latency.valueAtPercentile(percentile)) / 1_000
    }

    public var meanMilliseconds: Double { latency.mean / 1_000 }
    public var maxMilliseconds: Double { latency.totalCount == 0 ? 0 : Double(latency.max) / 1_000 }

    /// The percentiles every report carries, with their JSON names and summary labels.
    public static let reportedPercentiles: [(percentile: Double, key: String, label: String)] = [
        (50, "p50_ms", "p50"), (95, "p95_ms", "p95"), (99, "p99_ms", "p99"), (99.9, "p999_ms", "p99.9"),
    ]

    public func jsonObject() -> [String: ReportValue] {
        var object: [String: ReportValue] = [
            "mode": .string(mode),
            "records": .int(records),
            "bytes": .int(bytes),
            "errors": .int(errors),
            "elapsed_sec": .figure(elapsedSeconds),
            "records_per_sec": .figure(recordsPerSecond),
            "mb_per_sec": .figure(megabytesPerSecond),
            "latency": .string(latencyDescription),
            "latency_samples": .int(latency.totalCount),
            "avg_ms": .figure(meanMilliseconds),
            "max_ms": .figure(maxMilliseconds),
            "settings": .object(settings),
        ]
        for (percentile, key, _) in Self.reportedPercentiles { object[key] = .figure(milliseconds(atPercentile: percentile)) }
        for (key, value) in extra { object[key] = value }
        if !errorSamples.isEmpty {
            object["error_samples"] = .array(errorSamples.map { .object(["message": .string($0.message), "count": .int($0.count)]) })
        }
        return object
    }

    /// One JSON object on one line, keys sorted.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(jsonObject()), as: UTF8.self)
    }

    public func humanText() -> String {
        var lines = [
            "\(mode): \(Format.grouped(records)) records in \(Format.fixed(elapsedSeconds, 3)) s: "
                + "\(Format.fixed(recordsPerSecond, 1)) records/s, \(Format.fixed(megabytesPerSecond, 2)) MB/s, "
                + "\(Format.grouped(errors)) errors",
        ]
        if latency.totalCount > 0 {
            let percentiles = Self.reportedPercentiles.map { "\($0.label) \(Format.fixed(milliseconds(atPercentile: $0.percentile), 3))" }
            lines.append("latency (\(latencyDescription)) in ms: avg \(Format.fixed(meanMilliseconds, 3))  "
                         + percentiles.joined(separator: "  ") + "  max \(Format.fixed(maxMilliseconds, 3))")
        } else {
            lines.append("latency (\(latencyDescription)): no samples")
        }
        if !extra.isEmpty {
            lines.append(extra.map { "\($0.key.replacingOccurrences(of: "_", with: " ")) \($0.value.text)" }.joined(separator: ", "))
        }
        for (message, count) in errorSamples {
            lines.append("error ×\(Format.grouped(count)): \(message)")
        }
        return lines.joined(separator: "\n")
    }
}

/// Number formatting for the summary and the progress line, fixed to the C locale: a report
/// reads the same on every machine.
public enum Format {
    /// 1234567 → "1,234,567".
    public static func grouped(_ value: some BinaryInteger) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return value < 0 ? "-" + out : out
    }

    /// `value` with at most three decimals and no trailing zeros: 10,000 and 0.25, not
    /// 10,000.000 and 0.250 (settings read as they were typed).
    public static func trimmed(_ value: Double) -> String {
        var text = fixed(value, 3)
        guard text.contains(".") else { return text }
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    /// `value` with exactly `decimals` decimals, the integer part grouped.
    public static func fixed(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return "\(value)" }
        let text = String(format: "%.\(decimals)f", value)
        let parts = text.split(separator: ".", maxSplits: 1)
        guard let whole = Int64(parts[0]) else { return text }
        let sign = value < 0 && whole == 0 ? "-" : ""
        return sign + grouped(whole) + (parts.count > 1 ? "." + parts[1] : "")
    }
}
