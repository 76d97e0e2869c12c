/// The log cleaner's map from a key to the last offset the key has in the dirty section of a
/// log (Kafka's `SkimpyOffsetMap`), in a fixed amount of memory.
///
/// A 128-bit hash stands in for the key, so every entry takes 24 bytes whatever the key's size
/// (as Kafka's MD5 + offset): `log.cleaner.dedupe.buffer.size` buys the same number of keys.
/// The hash is two runs of Swift's `Hasher` (SipHash, keyed at random per process) salted
/// differently per map: nobody can prepare keys that collide, and an accidental collision —
/// which would make the cleaner drop the older key's last value — has a chance of about
/// n²/2¹²⁹ per round. Open addressing with double hashing over a prime number of slots; no
/// deletes. The table is sized for the keys a round can meet (at most one per offset of the
/// dirty section), so a small log does not touch the whole buffer.
///
/// Ownership: one cleaner round on one thread; not Sendable.
public final class OffsetMap {
    struct Entry {
        var hash0: UInt64
        var hash1: UInt64
        /// 0 marks an empty slot.
        var offsetPlusOne: Int64
    }

    public static let bytesPerEntry = MemoryLayout<Entry>.stride

    private let slots: UnsafeMutableBufferPointer<Entry>
    private let salt0 = UInt64.random(in: .min ... .max)
    private let salt1 = UInt64.random(in: .min ... .max)
    /// How many keys the map takes before it counts as full (Kafka: slots × load factor).
    public let capacity: Int
    public private(set) var count = 0
    /// The last offset put or passed over (`updateLatestOffset`): what the map covers.
    public private(set) var latestOffset: Int64 = -1

    /// A map in at most `memoryBytes` (at least a few slots), for up to `expectedKeys` keys.
    public init(memoryBytes: Int, expectedKeys: Int, loadFactor: Double = 0.9) {
        precondition(loadFactor > 0 && loadFactor <= 1)
        let most = max(3, memoryBytes / Self.bytesPerEntry)
        let wanted = max(3, Int((Double(max(expectedKeys, 1)) / loadFactor).rounded(.up)))
        let count = wanted >= most ? Self.prime(atOrBelow: most) : Self.prime(atOrAbove: wanted)
        slots = .allocate(capacity: count)
        slots.initialize(repeating: Entry(hash0: 0, hash1: 0, offsetPlusOne: 0))
        // At least one slot stays empty, whatever the load factor: a probe for a new key always ends.
        capacity = max(1, min(count - 1, Int(Double(count) * loadFactor)))
    }

    deinit { slots.deallocate() }

    public var slotCount: Int { slots.count }
    public var isFull: Bool { count >= capacity }

    /// Records `offset` as the latest of `key`. The map must not be full (a key already in it
    /// may still be updated).
    @discardableResult
    public func put(_ key: UnsafeRawBufferPointer, offset: Int64) -> Bool {
        let (hash0, hash1) = hashes(key)
        var index = Int(hash0 % UInt64(slots.count))
        let step = 1 + Int(hash1 % UInt64(slots.count - 1))
        while true {
            let entry = slots[index]
            if entry.offsetPlusOne == 0 {
                guard !isFull else { return false }
                slots[index] = Entry(hash0: hash0, hash1: hash1, offsetPlusOne: offset + 1)
                count += 1
                break
            }
            if entry.hash0 == hash0 && entry.hash1 == hash1 {
                slots[index].offsetPlusOne = offset + 1
                break
            }
            index = (index + step) % slots.count
        }
        latestOffset = max(latestOffset, offset)
        return true
    }

    /// The latest offset of `key`, or nil if the map has not seen it.
    public func offset(of key: UnsafeRawBufferPointer) -> Int64? {
        let (hash0, hash1) = hashes(key)
        var index = Int(hash0 % UInt64(slots.count))
        let step = 1 + Int(hash1 % UInt64(slots.count - 1))
        // A prime table size makes the probe visit every slot; the map is never completely
        // full (load factor), so a miss ends at an empty slot.
        for _ in 0..<slots.count {
            let entry = slots[index]
            if entry.offsetPlusOne == 0 { return nil }
            if entry.hash0 == hash0 && entry.hash1 == hash1 { return entry.offsetPlusOne - 1 }
            index = (index + step) % slots.count
        }
        return nil
    }

    /// The map covers everything up to `offset` (records without keys, whole batches passed).
    public func updateLatestOffset(_ offset: Int64) {
        latestOffset = max(latestOffset, offset)
    }

    private func hashes(_ key: UnsafeRawBufferPointer) -> (UInt64, UInt64) {
        var first = Hasher()
        first.combine(salt0)
        first.combine(bytes: key)
        var second = Hasher()
        second.combine(salt1)
        second.combine(bytes: key)
        return (UInt64(bitPattern: Int64(first.finalize())), UInt64(bitPattern: Int64(second.finalize())))
    }

    static func prime(atOrAbove value: Int) -> Int {
        var candidate = max(3, value)
        while !isPrime(candidate) { candidate += 1 }
        return candidate
    }

    static func prime(atOrBelow value: Int) -> Int {
        var candidate = max(3, value)
        while candidate > 3 && !isPrime(candidate) { candidate -= 1 }
        return candidate
    }

    static func isPrime(_ value: Int) -> Bool {
        if value < 2 { return false }
        if value % 2 == 0 { return value == 2 }
        var divisor = 3
        while divisor * divisor <= value {
            if value % divisor == 0 { return false }
            divisor += 2
        }
        return true
    }
}
