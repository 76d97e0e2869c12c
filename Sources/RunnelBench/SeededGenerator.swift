/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014).
///
/// The benchmark draws keys and payload bytes from this rather than from
/// `SystemRandomNumberGenerator` so that a run is repeatable: the same `--seed` sends the same
/// keys in the same order, and two brokers can be compared on identical input. It is also cheap
/// (three multiplies per value), which matters when it runs once per record on the send path.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform value in [0, 1) with the full 53 bits of a Double's mantissa.
    public mutating func nextUnitInterval() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// An independent stream for worker `index` of a run seeded with `seed`: each producer of
    /// `--producers N` gets its own, so they do not all send the same key sequence.
    public static func stream(_ index: Int, of seed: UInt64) -> SeededGenerator {
        var mixer = SeededGenerator(seed: seed ^ (UInt64(truncatingIfNeeded: index) &* 0xD6E8_FEB8_6659_FD93))
        return SeededGenerator(seed: mixer.next())
    }
}
