import Foundation
import RunnelBench
import Testing

@Suite struct KeyChooserTests {
    @Test(arguments: [
        ("none", KeyDistribution.none), ("uniform:10", .uniform(keys: 10)), ("zipfian:1000", .zipfian(keys: 1000, exponent: 0.99)),
        ("zipfian:50:1.2", .zipfian(keys: 50, exponent: 1.2)), ("UNIFORM:3", .uniform(keys: 3)),
    ])
    func parses(text: String, expected: KeyDistribution) throws {
        #expect(try KeyDistribution(parsing: text) == expected)
    }

    @Test(arguments: ["", "uniform", "uniform:0", "uniform:-3", "zipfian:x", "zipfian:10:0", "zipf:10", "none:3", "uniform:10:2"])
    func rejects(text: String) {
        #expect(throws: KeyDistributionError.self) { try KeyDistribution(parsing: text) }
    }

    @Test func noneDrawsNoKeys() {
        var chooser = KeyChooser(.none, seed: 1)
        #expect(chooser.next() == nil)
    }

    @Test func sameSeedSameKeysOtherStreamOtherKeys() {
        var first = KeyChooser(.zipfian(keys: 10_000, exponent: 0.99), seed: 7)
        var second = KeyChooser(.zipfian(keys: 10_000, exponent: 0.99), seed: 7)
        var other = first.reseeded(.stream(1, of: 7))
        let a = (0..<1_000).map { _ in first.next()! }
        let b = (0..<1_000).map { _ in second.next()! }
        let c = (0..<1_000).map { _ in other.next()! }
        #expect(a == b)
        #expect(a != c)
    }

    /// 200,000 draws over 20 keys: each key's count is binomial with sd ~ 97, so 10,000 ± 600
    /// is more than six standard deviations (a fixed seed makes it deterministic anyway).
    @Test func uniformIsFlat() {
        var chooser = KeyChooser(.uniform(keys: 20), seed: 42)
        var counts = [Int](repeating: 0, count: 20)
        for _ in 0..<200_000 { counts[chooser.next()!] += 1 }
        for count in counts { #expect(abs(count - 10_000) < 600, "\(counts)") }
    }

    /// Against the exact Zipf probabilities P(k) = (1/(k+1)^s) / H(N, s).
    @Test func zipfianMatchesTheDistribution() {
        let keys = 1_000
        let exponent = 0.99
        let harmonic = (1...keys).reduce(0.0) { $0 + 1 / pow(Double($1), exponent) }
        var chooser = KeyChooser(.zipfian(keys: keys, exponent: exponent), seed: 3)
        let draws = 500_000
        var counts = [Int](repeating: 0, count: keys)
        for _ in 0..<draws { counts[chooser.next()!] += 1 }
        for rank in [0, 1, 2, 9, 99] {
            let expected = Double(draws) / pow(Double(rank + 1), exponent) / harmonic
            let tolerance = 6 * expected.squareRoot() + 1
            #expect(abs(Double(counts[rank]) - expected) < tolerance, "rank \(rank): \(counts[rank]) vs \(expected)")
        }
        // The head carries most of the load: the top 10% of keys, about 70% of the records.
        let head = counts.prefix(keys / 10).reduce(0, +)
        let expectedHead = (1...keys / 10).reduce(0.0) { $0 + 1 / pow(Double($1), exponent) } / harmonic
        #expect(abs(Double(head) / Double(draws) - expectedHead) < 0.01)
        #expect(counts.allSatisfy { $0 >= 0 })
        #expect(counts.last! > 0, "the tail is reachable")
    }

    @Test func everyIndexIsInRange() {
        var chooser = KeyChooser(.zipfian(keys: 3, exponent: 2), seed: 9)
        for _ in 0..<10_000 {
            let index = chooser.next()!
            #expect((0..<3).contains(index))
        }
    }

    @Test func keysReadAsText() {
        #expect(KeyChooser.key(42) == "key-42")
        #expect(KeyDistribution.zipfian(keys: 5, exponent: 0.99).description == "zipfian:5")
        #expect(KeyDistribution.zipfian(keys: 5, exponent: 1.5).description == "zipfian:5:1.5")
    }
}

@Suite struct SeededGeneratorTests {
    @Test func unitIntervalStaysInside() {
        var random = SeededGenerator(seed: 0)
        for _ in 0..<100_000 {
            let value = random.nextUnitInterval()
            #expect(value >= 0 && value < 1)
        }
    }

    /// SplitMix64's published first output for seed 0 (Vigna's reference implementation).
    @Test func matchesTheReferenceSequence() {
        var random = SeededGenerator(seed: 0)
        #expect(random.next() == 0xE220_A839_7B1D_CDAF)
        #expect(random.next() == 0x6E78_9E6A_A1B9_65F4)
    }
}
