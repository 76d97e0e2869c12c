import Foundation
import Histogram

/// `--svg`: latency by percentile, drawn the way HdrHistogram's plotter draws it — the x axis
/// is 1/(1-percentile) on a log scale, so 90%, 99%, 99.9%, ... are equally spaced and the tail,
/// where the interesting latency lives, gets as much room as the median. The y axis is linear
/// milliseconds from 0, so two curves of one chart compare by eye.
///
/// Hand-written SVG with no scripts, fonts or external references: it opens in any browser,
/// attaches to an issue, and converts with rsvg-convert.
public struct PercentileChart: Sendable {
    public struct Series: Sendable {
        public var name: String
        /// Microseconds, as `LatencyHistogram` records them.
        public var histogram: Histogram<UInt64>

        public init(name: String, histogram: Histogram<UInt64>) {
            self.name = name
            self.histogram = histogram
        }
    }

    public var title: String
    /// The run's settings, wrapped under the title.
    public var subtitle: String
    public var series: [Series]
    public var width = 960.0
    public var height = 560.0

    public init(title: String, subtitle: String, series: [Series]) {
        self.title = title
        self.subtitle = subtitle
        self.series = series
    }

    /// Colour-blind-safe (Okabe–Ito) colours for up to eight series.
    static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]

    // MARK: Scales (internal for the tests)

    /// The axis always reaches 99.999% (five decades); it extends to the decade of the largest
    /// sample count so that a long run's tail is not cut off, up to 99.99999%.
    func decades() -> Int {
        let largest = series.map(\.histogram.totalCount).max() ?? 0
        let needed = largest > 0 ? Int(log10(Double(largest)).rounded(.up)) : 0
        return min(max(5, needed), 7)
    }

    /// The label of decade `d` of the x axis: 0%, 90%, 99%, 99.9%, ...
    static func percentileLabel(decade: Int) -> String {
        switch decade {
        case 0: return "0%"
        case 1: return "90%"
        case 2: return "99%"
        default: return "99." + String(repeating: "9", count: decade - 2) + "%"
        }
    }

    /// The chart's points for one histogram: (log10(1/(1-percentile)), milliseconds), from
    /// HdrHistogram's own percentile iteration (the rows of the `--hdr-file` table). The 100% row
    /// has no place on a 1/(1-p) axis; the maximum is drawn as its own line instead.
    static func points(of histogram: Histogram<UInt64>) -> [(x: Double, milliseconds: Double)] {
        guard histogram.totalCount > 0 else { return [] }
        var points: [(x: Double, milliseconds: Double)] = []
        for value in histogram.percentiles(ticksPerHalfDistance: PercentileDistributionFile.ticksPerHalfDistance) {
            let fraction = value.percentileLevelIteratedTo / 100
            guard fraction < 1 else { continue }
            points.append((log10(1 / (1 - fraction)), Double(value.value) / 1_000))
        }
        return points
    }

    /// Gridline values from 0 to a round maximum at or above `maximum`: steps of 1, 2, 2.5 or 5
    /// times a power of ten, four to eight of them.
    static func ticks(upTo maximum: Double) -> [Double] {
        let top = maximum > 0 && maximum.isFinite ? maximum : 1
        let rough = top / 5
        let magnitude = pow(10, floor(log10(rough)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
        let count = Int((top / step).rounded(.up))
        return (0...max(count, 1)).map { Double($0) * step }
    }

    // MARK: Drawing

    public func svg() -> String {
        let left = 90.0, right = width - 30, top = 96.0, bottom = height - 64
        let decades = decades()
        let maximum = series.map { Double($0.histogram.totalCount > 0 ? $0.histogram.max : 0) / 1_000 }.max() ?? 0
        let yTicks = Self.ticks(upTo: maximum)
        let yTop = yTicks.last ?? 1
        func x(_ value: Double) -> Double { left + (right - left) * min(value, Double(decades)) / Double(decades) }
        func y(_ value: Double) -> Double { bottom - (bottom - top) * value / yTop }

        var svg = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(n(width))" height="\(n(height))" viewBox="0 0 \(n(width)) \(n(height))" \
            font-family="Helvetica, Arial, sans-serif" font-size="12">
            <title>\(escape(title))</title>
            <rect x="0" y="0" width="\(n(width))" height="\(n(height))" fill="#ffffff"/>
            <text x="\(n(width / 2))" y="28" text-anchor="middle" font-size="17" font-weight="bold">\(escape(title))</text>

            """
        for (index, line) in Self.wrap(subtitle, width: Int(width / 6.6)).prefix(3).enumerated() {
            svg += "<text x=\"\(n(width / 2))\" y=\"\(n(48 + Double(index) * 15))\" text-anchor=\"middle\" fill=\"#555555\">\(escape(line))</text>\n"
        }

        // Minor verticals at 2..9 within each decade (50%, 66.7%, ... then 95%, 96.7%, ...).
        svg += "<g stroke=\"#eeeeee\" stroke-width=\"1\">\n"
        for decade in 0..<decades {
            for step in 2...9 {
                let position = x(Double(decade) + log10(Double(step)))
                svg += "<line x1=\"\(n(position))\" y1=\"\(n(top))\" x2=\"\(n(position))\" y2=\"\(n(bottom))\"/>\n"
            }
        }
        svg += "</g>\n<g stroke=\"#cccccc\" stroke-width=\"1\">\n"
        for decade in 0...decades {
            svg += "<line x1=\"\(n(x(Double(decade))))\" y1=\"\(n(top))\" x2=\"\(n(x(Double(decade))))\" y2=\"\(n(bottom))\"/>\n"
        }
        for tick in yTicks {
            svg += "<line x1=\"\(n(left))\" y1=\"\(n(y(tick)))\" x2=\"\(n(right))\" y2=\"\(n(y(tick)))\"/>\n"
        }
        svg += "</g>\n<g fill=\"#333333\">\n"
        for decade in 0...decades {
            svg += "<text x=\"\(n(x(Double(decade))))\" y=\"\(n(bottom + 18))\" text-anchor=\"middle\">\(Self.percentileLabel(decade: decade))</text>\n"
        }
        for tick in yTicks {
            svg += "<text x=\"\(n(left - 8))\" y=\"\(n(y(tick) + 4))\" text-anchor=\"end\">\(Self.tickLabel(tick))</text>\n"
        }
        svg += """
            </g>
            <rect x="\(n(left))" y="\(n(top))" width="\(n(right - left))" height="\(n(bottom - top))" fill="none" stroke="#333333"/>
            <text x="\(n((left + right) / 2))" y="\(n(height - 20))" text-anchor="middle" font-size="13">Percentile</text>
            <text x="22" y="\(n((top + bottom) / 2))" text-anchor="middle" font-size="13" transform="rotate(-90 22 \(n((top + bottom) / 2)))">Latency (ms)</text>

            """

        if series.allSatisfy({ $0.histogram.totalCount == 0 }) {
            svg += "<text x=\"\(n((left + right) / 2))\" y=\"\(n((top + bottom) / 2))\" text-anchor=\"middle\" font-size=\"15\" fill=\"#999999\">no latency samples</text>\n"
        }
        for (index, entry) in series.enumerated() where entry.histogram.totalCount > 0 {
            let color = Self.palette[index % Self.palette.count]
            let points = Self.points(of: entry.histogram).map { "\(n(x($0.x))),\(n(y($0.milliseconds)))" }
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" stroke-linejoin=\"round\" points=\"\(points.joined(separator: " "))\"/>\n"
            let maxMs = Double(entry.histogram.max) / 1_000
            svg += "<line x1=\"\(n(left))\" y1=\"\(n(y(maxMs)))\" x2=\"\(n(right))\" y2=\"\(n(y(maxMs)))\" stroke=\"\(color)\" stroke-width=\"1\" stroke-dasharray=\"5,4\"/>\n"
            // Alternate series label above and below their line, so two close maxima stay legible.
            let labelY = y(maxMs) + (index % 2 == 0 ? -4 : 14)
            svg += "<text x=\"\(n(right - 4))\" y=\"\(n(labelY))\" text-anchor=\"end\" fill=\"\(color)\">max \(Format.fixed(maxMs, 3)) ms</text>\n"
        }
        // The legend repeats the figures of the summary, so the picture stands on its own; its
        // backing keeps a max line running through it readable.
        let legendWidth = min(right - left - 20, 7.0 * Double(series.map { $0.name.count }.max() ?? 0) + 400)
        svg += "<rect x=\"\(n(left + 4))\" y=\"\(n(top + 4))\" width=\"\(n(legendWidth))\" height=\"\(n(Double(series.count) * 18 + 6))\" "
            + "fill=\"#ffffff\" fill-opacity=\"0.85\" stroke=\"#dddddd\"/>\n"
        for (index, entry) in series.enumerated() {
            let color = Self.palette[index % Self.palette.count]
            let rowY = top + 18 + Double(index) * 18
            let histogram = entry.histogram
            let figures = histogram.totalCount == 0 ? "no samples" : [50.0, 99, 99.9].map { percentile in
                "p\(Self.tickLabel(percentile)) \(Format.fixed(Double(histogram.valueAtPercentile(percentile)) / 1_000, 3))"
            }.joined(separator: "  ") + " ms  (\(Format.grouped(histogram.totalCount)) samples)"
            svg += "<rect x=\"\(n(left + 10))\" y=\"\(n(rowY - 9))\" width=\"14\" height=\"4\" fill=\"\(color)\"/>\n"
            svg += "<text x=\"\(n(left + 30))\" y=\"\(n(rowY - 3))\">\(escape(entry.name)): \(escape(figures))</text>\n"
        }
        svg += "</svg>\n"
        return svg
    }

    /// Tick values print without trailing zeros: 0, 2.5, 10, 0.25.
    static func tickLabel(_ value: Double) -> String {
        var text = String(format: "%.3f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    /// Splits `text` at spaces into lines of at most `width` characters.
    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty, line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }

    private func n(_ value: Double) -> String { String(format: "%.1f", value) }

    private func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }
}
