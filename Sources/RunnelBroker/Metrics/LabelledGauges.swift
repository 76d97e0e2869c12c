import Prometheus

/// One gauge family whose label values come and go (partitions, groups): each scrape sets the
/// values it computed, creating the series it has not seen and unregistering those gone.
///
/// Not thread-safe: `StateGauges` owns it and updates it under its scrape lock.
final class LabelledGauges {
    private let name: String
    private let help: String
    private let labelNames: [String]
    private let registry: PrometheusCollectorRegistry
    private var series: [[String]: Gauge] = [:]

    init(_ name: String, labels labelNames: [String], help: String, registry: PrometheusCollectorRegistry) {
        self.name = name
        self.help = help
        self.labelNames = labelNames
        self.registry = registry
    }

    /// Sets every series in `values` (keyed by label values, in `labelNames` order) and drops
    /// the rest.
    func update(_ values: [[String]: Double]) {
        for (labelValues, gauge) in series where values[labelValues] == nil {
            registry.unregisterGauge(gauge)
            series[labelValues] = nil
        }
        for (labelValues, value) in values {
            let gauge = series[labelValues] ?? {
                let made = registry.gauge(name, labels: Array(zip(labelNames, labelValues)), help: help)
                series[labelValues] = made
                return made
            }()
            gauge.set(value)
        }
    }
}
