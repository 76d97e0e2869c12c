import Histogram

/// `--hdr-file`: HdrHistogram's classic percentile distribution text, the format of Java's
/// `Histogram.outputPercentileDistribution` — a `Value Percentile TotalCount 1/(1-Percentile)`
/// table and the `#[Mean = ...]` footer — with values in milliseconds. HdrHistogram's plotter
/// (hdrhistogram.github.io/HdrHistogram/plotFiles.html) and wrk2-style tooling read it, so runs
/// can be overlaid with those of other tools.
///
/// hdrhistogram-swift implements the format itself; this only fixes the unit and the tick
/// density, so every file of a comparison is written the same way.
public enum PercentileDistributionFile {
    /// Recorded values are microseconds: dividing by 1,000 prints milliseconds, and with three
    /// significant digits the table's three decimals are exactly the recorded resolution.
    public static let microsecondsPerMillisecond = 1_000.0

    /// Java's default: five reporting points per halving of the distance to 100%.
    public static let ticksPerHalfDistance = 5

    public static func text(of histogram: Histogram<UInt64>) -> String {
        var text = ""
        histogram.outputPercentileDistribution(
            to: &text, outputValueUnitScalingRatio: microsecondsPerMillisecond, percentileTicksPerHalfDistance: ticksPerHalfDistance)
        return text
    }
}
