import RunnelCodecs
import Testing

@Suite struct CRC32CTests {
    /// Published CRC-32C check values: the "123456789" check value of the Castagnoli CRC
    /// catalogue, and the iSCSI vectors of RFC 3720 appendix B.4.
    static let vectors: [(bytes: [UInt8], crc: UInt32)] = [
        (Array("123456789".utf8), 0xE306_9283),
        ([UInt8](repeating: 0, count: 32), 0x8A91_36AA),
        ([UInt8](repeating: 0xFF, count: 32), 0x62A8_AB43),
        ((0..<32).map { UInt8($0) }, 0x46DD_794E),
        ((0..<32).reversed().map { UInt8($0) }, 0x113F_DB5C),
        ([], 0),
    ]

    @Test(arguments: 0..<vectors.count)
    func publishedVectors(index: Int) {
        let (bytes, expected) = Self.vectors[index]
        bytes.withUnsafeBytes { raw in
            #expect(CRC32C.portableChecksum(raw) == expected)
            #expect(CRC32C.checksum(raw) == expected)
            if let hardware = CRC32C.hardwareChecksum(raw) { #expect(hardware == expected) }
        }
    }

    @Test func hardwarePathIsUsedOnThisMachineWhenAvailable() {
        // On x86-64 with SSE4.2 (every CI machine here) the fast path must be the one selected.
        #if arch(x86_64)
        #expect(CRC32C.isHardwareAccelerated)
        #endif
    }

    /// Random lengths cover the byte prologue, the 8-byte loop and both interleaved block sizes
    /// (3 x 256 and 3 x 8192 bytes); random offsets cover unaligned starts.
    @Test func hardwareAndPortableAgreeOnRandomInput() {
        var generator = SystemRandomNumberGenerator()
        let pool = (0..<100_000).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let lengths = [0, 1, 7, 8, 9, 255, 256, 767, 768, 769, 3 * 8192 - 1, 3 * 8192, 3 * 8192 + 13, 99_000]
            + (0..<200).map { _ in Int.random(in: 0..<99_000, using: &generator) }
        pool.withUnsafeBytes { all in
            for length in lengths {
                let start = Int.random(in: 0...(pool.count - length), using: &generator)
                let slice = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
                let portable = CRC32C.portableChecksum(slice)
                #expect(CRC32C.checksum(slice) == portable, "length \(length) at \(start)")
                if let hardware = CRC32C.hardwareChecksum(slice) { #expect(hardware == portable, "length \(length)") }
            }
        }
    }

    @Test func continuingEqualsOneShot() {
        let bytes = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let whole = CRC32C.checksum(bytes)
        for split in [0, 1, 100, 8192, 25_000, 49_999, 50_000] {
            let first = CRC32C.checksum(bytes[..<split])
            #expect(CRC32C.checksum(bytes[split...], continuing: first) == whole)
        }
    }
}
