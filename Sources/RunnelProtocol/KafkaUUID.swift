/// A Kafka UUID (topic ids, KIP-516): 16 bytes, written as two big-endian int64s.
public struct KafkaUUID: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The all-zero UUID, which Kafka uses for "no id".
    public static let zero = KafkaUUID(high: 0, low: 0)

    /// A random version-4 UUID.
    public static func random() -> KafkaUUID {
        var generator = SystemRandomNumberGenerator()
        return random(using: &generator)
    }

    public static func random(using generator: inout some RandomNumberGenerator) -> KafkaUUID {
        let high = (generator.next() as UInt64) & ~0xF000 | 0x4000  // version 4
        let low = (generator.next() as UInt64) & ~(0xC000 << 48) | (0x8000 << 48)  // IETF variant
        return KafkaUUID(high: high, low: low)
    }

    /// Parses the canonical form (or 32 hex digits without dashes); nil for anything else.
    public init?(string text: String) {
        let hex = text.filter { $0 != "-" }
        guard hex.count == 32, let high = UInt64(hex.prefix(16), radix: 16), let low = UInt64(hex.suffix(16), radix: 16) else {
            return nil
        }
        self.init(high: high, low: low)
    }

    /// The canonical 8-4-4-4-12 lower-case hex form.
    public var description: String {
        let hex = String(high, radix: 16).leftPadded(to: 16) + String(low, radix: 16).leftPadded(to: 16)
        let characters = Array(hex)
        let groups = [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(characters[$0]) }
        return groups.joined(separator: "-")
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
