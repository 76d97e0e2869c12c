/// The line printed to stderr every `--reporting-interval` while a run is going: cumulative
/// records, this interval's rate and latency, and errors so far. Latency percentiles are the
/// interval's, so a stall shows up in the second it happens instead of being averaged away.
public enum ProgressLine {
    public static func format(elapsedSeconds: Double, totalRecords: UInt64, totalErrors: UInt64,
                              interval: LatencyRecorder.Snapshot, intervalSeconds: Double, prefix: String = "") -> String {
        let rate = intervalSeconds > 0 ? Double(interval.records) / intervalSeconds : 0
        let megabytes = intervalSeconds > 0 ? Double(interval.bytes) / BenchSummary.bytesPerMegabyte / intervalSeconds : 0
        var line = "[\(pad(Format.fixed(elapsedSeconds, 1), 6)) s] \(prefix)\(pad(Format.grouped(totalRecords), 11)) records"
            + "  \(pad(Format.fixed(rate, 0), 9)) rec/s  \(pad(Format.fixed(megabytes, 1), 7)) MB/s"
        if interval.histogram.totalCount > 0 {
            let p50 = Double(interval.histogram.valueAtPercentile(50)) / 1_000
            let p99 = Double(interval.histogram.valueAtPercentile(99)) / 1_000
            line += "  p50 \(pad(Format.fixed(p50, 3), 8)) ms  p99 \(pad(Format.fixed(p99, 3), 8)) ms"
        } else {
            line += "  p50        - ms  p99        - ms"
        }
        line += "  errors \(Format.grouped(totalErrors))"
        return line
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }
}
