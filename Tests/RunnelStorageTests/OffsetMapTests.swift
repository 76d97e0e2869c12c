import Testing
@testable import RunnelStorage

@Suite struct OffsetMapTests {
    func put(_ map: OffsetMap, _ key: String, _ offset: Int64) -> Bool {
        Array(key.utf8).withUnsafeBytes { map.put($0, offset: offset) }
    }

    func offset(_ map: OffsetMap, _ key: String) -> Int64? {
        Array(key.utf8).withUnsafeBytes { map.offset(of: $0) }
    }

    @Test func itAgreesWithADictionaryUnderRandomPutsAtHighLoad() {
        let map = OffsetMap(memoryBytes: 1 << 20, expectedKeys: 5_000)
        var truth: [String: Int64] = [:]
        var generator = SystemRandomNumberGenerator()
        for offset in Int64(0)..<40_000 {
            let key = "key-\(Int.random(in: 0..<5_000, using: &generator))"
            #expect(put(map, key, offset))
            truth[key] = offset
        }
        #expect(map.count == truth.count)
        #expect(Double(map.count) / Double(map.slotCount) > 0.8, "the table was sized for the keys, not the whole buffer")
        for (key, offset) in truth { #expect(self.offset(map, key) == offset) }
        for index in 0..<1_000 { #expect(offset(map, "absent-\(index)") == nil) }
        #expect(map.latestOffset == 39_999)
    }

    @Test func aFullMapTakesNoNewKeyButStillUpdatesTheOnesItHas() {
        let map = OffsetMap(memoryBytes: OffsetMap.bytesPerEntry * 101, expectedKeys: 1_000)
        #expect(map.slotCount == 101 && map.capacity == 90)
        for index in 0..<90 { #expect(put(map, "k\(index)", Int64(index))) }
        #expect(map.isFull)
        #expect(!put(map, "k-new", 500))
        #expect(offset(map, "k-new") == nil)
        #expect(put(map, "k7", 600))
        #expect(offset(map, "k7") == 600)
        #expect(map.latestOffset == 600)
        map.updateLatestOffset(700)
        #expect(map.latestOffset == 700)
    }

    @Test func aLoadFactorOfOneStillLeavesAProbeItsEnd() {
        // 7 slots at load factor 1: six keys fit, the seventh is refused instead of probing forever.
        let map = OffsetMap(memoryBytes: 7 * OffsetMap.bytesPerEntry, expectedKeys: 100, loadFactor: 1)
        let keys = (0..<map.slotCount).map { Array("key-\($0)".utf8) }
        let accepted = keys.enumerated().map { index, key in key.withUnsafeBytes { map.put($0, offset: Int64(index)) } }
        #expect(accepted.filter { $0 }.count == map.slotCount - 1 && accepted.last == false)
        #expect(Array("absent".utf8).withUnsafeBytes { map.offset(of: $0) } == nil)
    }

    @Test func itIsSizedForTheExpectedKeysWithinItsMemory() {
        let small = OffsetMap(memoryBytes: 128 << 20, expectedKeys: 1_000)
        #expect(small.slotCount >= 1_112 && small.slotCount < 1_200 && OffsetMap.isPrime(small.slotCount))
        let capped = OffsetMap(memoryBytes: OffsetMap.bytesPerEntry * 1_000, expectedKeys: 1_000_000)
        #expect(capped.slotCount <= 1_000 && OffsetMap.isPrime(capped.slotCount))
        #expect(OffsetMap.bytesPerEntry == 24)
    }

    @Test func keysThatDifferOnlySlightlyAreDifferentKeys() {
        let map = OffsetMap(memoryBytes: 1 << 16, expectedKeys: 10)
        _ = put(map, "", 1)
        _ = put(map, "a", 2)
        _ = put(map, "a\u{0}", 3)
        #expect(offset(map, "") == 1 && offset(map, "a") == 2 && offset(map, "a\u{0}") == 3)
    }
}
