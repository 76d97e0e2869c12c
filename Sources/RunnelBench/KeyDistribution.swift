import Foundation

/// Which keys the benchmark's records carry (`--keys`).
///
/// Keys decide partitions (murmur2 of the key, as every Kafka client computes it), so the
/// distribution is what shapes partition skew: `uniform` spreads load evenly over N keys,
/// `zipfian` concentrates it on a few hot keys the way real traffic (users, tenants, devices)
/// usually does. `none` sends keyless records, which the producer's sticky partitioner batches.
public enum KeyDistribution: Equatable, Sendable, CustomStringConvertible {
    case none
    case uniform(keys: Int)
    case zipfian(keys: Int, exponent: Double)

    /// YCSB's and most skewed-key benchmarks' default: the hottest key draws about 7% of the
    /// records over 10,000 keys, and the top 1% of keys about half of them.
    public static let defaultZipfianExponent = 0.99

    /// Parses `none`, `uniform:N`, `zipfian:N` or `zipfian:N:EXPONENT`.
    public init(parsing text: String) throws(KeyDistributionError) {
        let parts = text.lowercased().split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        func keyCount(_ part: String) throws(KeyDistributionError) -> Int {
            guard let count = Int(part), count >= 1 else { throw KeyDistributionError(text: text, reason: "the key count must be a positive integer") }
            return count
        }
        switch (parts.first, parts.count) {
        case ("none", 1):
            self = .none
        case ("uniform", 2):
            self = .uniform(keys: try keyCount(parts[1]))
        case ("zipfian", 2):
            self = .zipfian(keys: try keyCount(parts[1]), exponent: Self.defaultZipfianExponent)
        case ("zipfian", 3):
            guard let exponent = Double(parts[2]), exponent > 0, exponent.isFinite else {
                throw KeyDistributionError(text: text, reason: "the exponent must be a positive number")
            }
            self = .zipfian(keys: try keyCount(parts[1]), exponent: exponent)
        default:
            throw KeyDistributionError(text: text, reason: "expected none, uniform:N, zipfian:N or zipfian:N:EXPONENT")
        }
    }

    public var description: String {
        switch self {
        case .none: return "none"
        case .uniform(let keys): return "uniform:\(keys)"
        case .zipfian(let keys, let exponent):
            return exponent == Self.defaultZipfianExponent ? "zipfian:\(keys)" : "zipfian:\(keys):\(exponent)"
        }
    }

    /// How many distinct keys records can carry; 0 for keyless records.
    public var keyCount: Int {
        switch self {
        case .none: return 0
        case .uniform(let keys), .zipfian(let keys, _): return keys
        }
    }
}

public struct KeyDistributionError: Error, CustomStringConvertible, Equatable {
    public var text: String
    public var reason: String
    public var description: String { "bad --keys \"\(text)\": \(reason)" }
}

/// Draws key indexes (0..<N) from a `KeyDistribution`. Index 0 is the hottest key of a zipfian
/// distribution.
///
/// Zipfian draws invert a precomputed cumulative distribution by binary search: O(log N) per
/// record with no floating-point `pow` on the send path, and exact for any exponent (the
/// rejection-sampling shortcuts YCSB uses approximate the tail). The table is shared between
/// copies (an array is copy-on-write and never written after `init`), so the choosers of many
/// producers cost one table.
public struct KeyChooser: Sendable {
    public let distribution: KeyDistribution
    private let cumulative: [Double]
    private var random: SeededGenerator

    public init(_ distribution: KeyDistribution, seed: UInt64) {
        self.distribution = distribution
        random = SeededGenerator(seed: seed)
        if case .zipfian(let keys, let exponent) = distribution {
            cumulative = Self.zipfianCumulative(keys: keys, exponent: exponent)
        } else {
            cumulative = []
        }
    }

    /// The same distribution (and table) drawing from another stream: one per producer.
    public func reseeded(_ generator: SeededGenerator) -> KeyChooser {
        var copy = self
        copy.random = generator
        return copy
    }

    /// The next key index, or nil for keyless records.
    public mutating func next() -> Int? {
        switch distribution {
        case .none:
            return nil
        case .uniform(let keys):
            return Int(random.next() % UInt64(keys))
        case .zipfian:
            return Self.firstIndex(in: cumulative, atLeast: random.nextUnitInterval())
        }
    }

    /// The key bytes for an index, as text so that they read well in `kcat` and group tools.
    public static func key(_ index: Int) -> String { "key-\(index)" }

    /// P(rank <= k) for ranks 0..<keys with weights 1/(k+1)^exponent. The last entry is forced to
    /// exactly 1 so that rounding can never leave a draw just below 1 without a key.
    static func zipfianCumulative(keys: Int, exponent: Double) -> [Double] {
        var cumulative = [Double](repeating: 0, count: keys)
        var sum = 0.0
        for rank in 0..<keys {
            sum += 1 / pow(Double(rank + 1), exponent)
            cumulative[rank] = sum
        }
        for rank in 0..<keys { cumulative[rank] /= sum }
        cumulative[keys - 1] = 1
        return cumulative
    }

    /// The first index whose cumulative probability is at least `u` (a lower bound search).
    static func firstIndex(in cumulative: [Double], atLeast u: Double) -> Int {
        var low = 0
        var high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] < u { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
