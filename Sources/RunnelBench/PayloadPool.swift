/// The bytes record values are cut from (`--payload`).
///
/// What the payload looks like decides what compression does, so it is a choice, not a detail:
/// `random` is uniform A–Z letters, what kafka-producer-perf-test sends (lz4 and snappy barely
/// shrink it), `words` is text from a 2,048-word vocabulary that compresses like log lines
/// (about 2:1 with lz4, 3:1 with zstd), and `zeros` shows a codec's best case. Values are slices
/// of one pool at moving offsets, so consecutive records differ (a codec cannot just repeat the
/// previous record) while no record costs more than a slice to make.
public struct PayloadPool: Sendable {
    public enum Kind: String, CaseIterable, Sendable {
        case random, words, zeros
    }

    /// Big enough that a 1 MiB batch does not repeat itself, small enough to stay in cache-ish memory.
    public static let defaultSize = 4 * 1_048_576

    public let kind: Kind
    public let bytes: [UInt8]

    public init(kind: Kind, size: Int = PayloadPool.defaultSize, seed: UInt64) {
        precondition(size > 0)
        self.kind = kind
        var random = SeededGenerator(seed: seed)
        switch kind {
        case .zeros:
            bytes = [UInt8](repeating: 0, count: size)
        case .random:
            bytes = (0..<size).map { _ in UInt8(ascii: "A") + UInt8(random.next() % 26) }
        case .words:
            let vocabulary: [[UInt8]] = (0..<2048).map { _ in
                let length = 2 + Int(random.next() % 9)
                return (0..<length).map { _ in UInt8(ascii: "a") + UInt8(random.next() % 26) }
            }
            var text: [UInt8] = []
            text.reserveCapacity(size + 16)
            while text.count < size {
                text += vocabulary[Int(random.next() % UInt64(vocabulary.count))]
                text.append(UInt8(ascii: " "))
            }
            bytes = Array(text.prefix(size))
        }
    }

    /// Where the value of record `n` starts: a stride that is prime and not a multiple of any
    /// small record size walks the whole pool before it comes back to an offset.
    public func offset(forRecord n: UInt64, recordSize: Int) -> Int {
        precondition(recordSize <= bytes.count, "the payload pool is smaller than a record")
        let positions = UInt64(bytes.count - recordSize + 1)
        return Int((n &* 7_919) % positions)
    }
}
