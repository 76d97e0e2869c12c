import Foundation
import Histogram
import RunnelBench
import Testing

/// A histogram of 1 ms ... 100 ms in 1 ms steps, 100 samples each: p50 is 50 ms, max 100 ms.
func sampleHistogram() -> Histogram<UInt64> {
    var histogram = LatencyHistogram.make()
    for milliseconds in 1...100 { histogram.record(UInt64(milliseconds) * 1_000, count: 100) }
    return histogram
}

@Suite struct SummaryTests {
    func summary() -> BenchSummary {
        BenchSummary(
            mode: "produce", latencyDescription: "send → ack", records: 500_000, bytes: 512_000_000, errors: 3, elapsedSeconds: 4,
            latency: sampleHistogram(), settings: ["acks": .string("1"), "record_size": .int(1_024), "topic": .string("b1")],
            extra: [("sent", .int(500_003))], errorSamples: [("request timed out", 3)])
    }

    @Test func jsonIsOneSortedObjectWithTheFigures() throws {
        let text = try summary().json()
        #expect(!text.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        for key in ["records", "records_per_sec", "mb_per_sec", "p50_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms", "errors", "elapsed_sec", "mode", "settings"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        #expect(object["records"] as? Int == 500_000)
        #expect(object["records_per_sec"] as? Double == 125_000)
        #expect(abs((object["mb_per_sec"] as? Double ?? 0) - 122.07) < 0.001)  // 512e6 B / 2^20 / 4 s
        #expect(abs((object["p50_ms"] as? Double ?? 0) - 50) < 0.1)
        #expect(abs((object["max_ms"] as? Double ?? 0) - 100) < 0.1)
        #expect(object["mode"] as? String == "produce")
        #expect((object["settings"] as? [String: Any])?["acks"] as? String == "1")
        #expect(object["sent"] as? Int == 500_003)
        // Sorted keys: each top-level key appears after the one before it.
        let keys = ["avg_ms", "bytes", "elapsed_sec", "errors", "max_ms", "mb_per_sec", "mode", "p50_ms", "records", "settings"]
        let positions = keys.map { text.range(of: "\"\($0)\":")!.lowerBound }
        #expect(positions == positions.sorted())
    }

    @Test func humanSummaryNamesEveryFigure() {
        let text = summary().humanText()
        #expect(text.contains("500,000 records in 4.000 s"))
        #expect(text.contains("125,000.0 records/s"))
        #expect(text.contains("122.07 MB/s"))
        for label in ["avg", "p50", "p95", "p99", "p99.9", "max"] { #expect(text.contains(" \(label) "), "\(label)") }
        #expect(text.contains("sent 500,003"))
        #expect(text.contains("request timed out"))
    }

    @Test func emptyRunsReportZeros() throws {
        let empty = BenchSummary(mode: "consume", latencyDescription: "poll", records: 0, bytes: 0, errors: 0, elapsedSeconds: 0,
                                 latency: LatencyHistogram.make(), settings: [:])
        #expect(empty.recordsPerSecond == 0)
        #expect(empty.milliseconds(atPercentile: 99) == 0)
        #expect(empty.humanText().contains("no samples"))
        _ = try empty.json()
    }

    @Test(arguments: [(0, "0"), (999, "999"), (1_000, "1,000"), (1_234_567, "1,234,567"), (-1_234, "-1,234")])
    func groupsThousands(value: Int, expected: String) {
        #expect(Format.grouped(value) == expected)
    }

    @Test func fixedDecimals() {
        #expect(Format.fixed(1_234.5678, 2) == "1,234.57")
        #expect(Format.fixed(0.0004, 3) == "0.000")
        #expect(Format.fixed(-0.5, 1) == "-0.5")
    }

    @Test func progressLineShowsTheInterval() {
        let recorder = LatencyRecorder()
        for _ in 0..<1_000 { recorder.record(bytes: 1_048, latencyNanoseconds: 2_000_000, at: 1) }
        let line = ProgressLine.format(elapsedSeconds: 3, totalRecords: 12_345, totalErrors: 2, interval: recorder.takeInterval(), intervalSeconds: 0.5)
        #expect(line.contains("12,345 records"))
        #expect(line.contains("2,000 rec/s"))
        #expect(line.contains("p50    2.000 ms"))
        #expect(line.contains("errors 2"))
    }
}

@Suite struct PercentileDistributionFileTests {
    /// The layout of Java HdrHistogram's `outputPercentileDistribution`, which HdrHistogram's
    /// plotter parses: a header, a blank line, rows of four numbers (three for the 100% row),
    /// and the three `#[...]` footer lines.
    @Test func hasTheClassicLayoutInMilliseconds() throws {
        let lines = PercentileDistributionFile.text(of: sampleHistogram()).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0].split(separator: " ") == ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"])
        #expect(lines[1].isEmpty)
        let footer = lines.filter { $0.hasPrefix("#[") }
        #expect(footer.count == 3)
        #expect(footer[0].hasPrefix("#[Mean    ="))
        #expect(footer[0].contains("StdDeviation"))
        #expect(footer[1].hasPrefix("#[Max     ="))
        #expect(footer[1].contains("Total count    =        10000"))
        let rows = lines.dropFirst(2).filter { !$0.isEmpty && !$0.hasPrefix("#") }.map { $0.split(separator: " ").map(String.init) }
        #expect(rows.count > 20)
        for row in rows.dropLast() { #expect(row.count == 4, "\(row)") }
        #expect(rows.last!.count == 3)
        #expect(Double(rows.last![1]) == 1)
        #expect(Int(rows.last![2]) == 10_000)
        // Values are milliseconds with three decimals: the first row is the 1 ms minimum.
        #expect(rows.first![0] == "1.000")
        #expect(abs(Double(rows.last![0])! - 100) < 0.1)
        let median = try #require(rows.first { Double($0[1])! >= 0.5 })
        #expect(abs(Double(median[0])! - 50) < 0.1)
        let mean = try #require(Double(footer[0].split(separator: "=")[1].split(separator: ",")[0].trimmingCharacters(in: .whitespaces)))
        #expect(abs(mean - 50.5) < 0.1)
    }
}
