import Foundation
import RunnelBench

/// Where a finished run goes: the summary (human or `--json`) on stdout, then the
/// `--hdr-file` and `--svg` files. Files are written even when the run had errors: a
/// benchmark that half-failed is exactly the one to look at.
enum BenchOutput {
    static func emit(_ summary: BenchSummary, options: BenchOutputOptions, chartTitle: String, chartSubtitle: String,
                     series: [PercentileChart.Series]? = nil) throws {
        if options.json {
            print(try summary.json())
        } else {
            print(summary.humanText())
        }
        if let path = options.hdrFile {
            try write(PercentileDistributionFile.text(of: summary.latency), to: path, what: "HDR percentile distribution")
        }
        if let path = options.svg {
            let chart = PercentileChart(
                title: chartTitle, subtitle: chartSubtitle,
                series: series ?? [PercentileChart.Series(name: summary.latencyDescription, histogram: summary.latency)])
            try write(chart.svg(), to: path, what: "latency chart")
        }
    }

    private static func write(_ text: String, to path: String, what: String) throws {
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        } catch {
            throw BenchError("cannot write the \(what) to \(path): \(error.localizedDescription)")
        }
        BenchConsole.note("wrote the \(what) to \(path)")
    }
}
