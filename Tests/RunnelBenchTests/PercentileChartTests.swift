import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Histogram
import RunnelBench
import Testing

@Suite struct PercentileChartTests {
    /// Collects the text of every <text> element and checks the document parses.
    final class TextCollector: NSObject, XMLParserDelegate {
        var texts: [String] = []
        var elements: [String] = []
        private var current: String?

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            elements.append(name)
            if name == "text" || name == "title" { current = "" }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { current? += string }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            if let text = current, name == "text" || name == "title" { texts.append(text) }
            current = nil
        }
    }

    func parse(_ svg: String) throws -> TextCollector {
        let parser = XMLParser(data: Data(svg.utf8))
        let collector = TextCollector()
        parser.delegate = collector
        let parsed = parser.parse()
        #expect(parsed, "not well-formed: \(parser.parserError.map { "\($0)" } ?? "?")")
        return collector
    }

    @Test func isWellFormedWithAxesAndLabels() throws {
        let chart = PercentileChart(title: "runnel bench produce <acks=1 & more>", subtitle: "topic=b1 record_size=1,024 acks=1",
                                    series: [.init(name: "send → ack", histogram: sampleHistogram())])
        let svg = chart.svg()
        let collector = try parse(svg)
        #expect(collector.elements.first == "svg")
        for label in ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "Percentile", "Latency (ms)"] {
            #expect(collector.texts.contains(label), "missing \(label)")
        }
        #expect(collector.texts.contains("runnel bench produce <acks=1 & more>"))
        #expect(collector.texts.contains { $0.contains("topic=b1") })
        #expect(collector.texts.contains { $0.hasPrefix("max 100.") })
        #expect(collector.texts.contains { $0.hasPrefix("send → ack: p50 50.") })
        #expect(collector.elements.contains("polyline"))
        // Gridlines: one per y tick and per decade, at least.
        #expect(collector.elements.filter { $0 == "line" }.count > 10)
    }

    @Test func emptyChartSaysSo() throws {
        let chart = PercentileChart(title: "t", subtitle: "", series: [.init(name: "none", histogram: LatencyHistogram.make())])
        let collector = try parse(chart.svg())
        #expect(collector.texts.contains("no latency samples"))
        #expect(!collector.elements.contains("polyline"))
    }

    @Test func twoSeriesTwoCurves() throws {
        var faster = LatencyHistogram.make()
        for value in 1...1_000 { faster.record(UInt64(value)) }
        let chart = PercentileChart(title: "t", subtitle: "s", series: [.init(name: "a", histogram: sampleHistogram()), .init(name: "b", histogram: faster)])
        let collector = try parse(chart.svg())
        #expect(collector.elements.filter { $0 == "polyline" }.count == 2)
    }
}
