import RunnelCodecs
import Testing

@Suite struct CompressionTests {
    static let compressedCodecs: [CompressionCodec] = [.gzip, .snappy, .lz4, .zstd]

    /// Log lines like the ones Runnel users ingest: repetitive structure, varying fields.
    static func logLines(count: Int) -> [UInt8] {
        var text = ""
        for index in 0..<count {
            text += #"{"ts":"2026-11-26T12:\#(index % 60):\#(index % 7)Z","level":"\#(index % 5 == 0 ? "WARN" : "INFO")","#
            text += #""service":"checkout-\#(index % 9)","trace":"\#(String(index &* 2_654_435_761, radix: 16))","#
            text += #""msg":"request completed","latency_ms":\#(index % 997)}"# + "\n"
        }
        return Array(text.utf8)
    }

    @Test(arguments: compressedCodecs)
    func roundTrip(codec: CompressionCodec) throws {
        for input in [[], [42], Self.logLines(count: 3), Self.logLines(count: 5000)] {
            let compressed = try Compression.compress(input, codec: codec)
            if input.count > 10_000 { #expect(compressed.count < input.count / 3, "\(codec) should compress log lines") }
            let restored = try Compression.decompress(compressed, codec: codec, maxOutputBytes: input.count)
            #expect(restored == input)
        }
    }

    @Test(arguments: compressedCodecs)
    func decompressionBombIsRefused(codec: CompressionCodec) throws {
        let bomb = try Compression.compress([UInt8](repeating: 0, count: 8 * 1024 * 1024), codec: codec)
        #expect(bomb.count < 1024 * 1024)
        let error = #expect(throws: CompressionError.self) {
            try Compression.decompress(bomb, codec: codec, maxOutputBytes: 1024 * 1024)
        }
        #expect(error?.code == .outputLimitExceeded)
    }

    @Test(arguments: compressedCodecs)
    func exactLimitIsAccepted(codec: CompressionCodec) throws {
        let input = Self.logLines(count: 2000)
        let compressed = try Compression.compress(input, codec: codec)
        #expect(try Compression.decompress(compressed, codec: codec, maxOutputBytes: input.count) == input)
        #expect(throws: CompressionError.self) {
            try Compression.decompress(compressed, codec: codec, maxOutputBytes: input.count - 1)
        }
    }

    @Test(arguments: compressedCodecs)
    func truncatedInputIsRejected(codec: CompressionCodec) throws {
        let compressed = try Compression.compress(Self.logLines(count: 500), codec: codec)
        for cut in [compressed.count / 2, compressed.count - 1] {
            let error = #expect(throws: CompressionError.self) {
                try Compression.decompress(Array(compressed[..<cut]), codec: codec, maxOutputBytes: 1 << 24)
            }
            #expect(error?.code == .malformedInput, "\(codec) cut at \(cut) of \(compressed.count)")
        }
    }

    @Test(arguments: compressedCodecs)
    func garbageIsRejected(codec: CompressionCodec) {
        var generator = SystemRandomNumberGenerator()
        for length in [0, 1, 17, 4096] {
            let garbage = (0..<length).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            // Either rejected, or (for a raw snappy block that happens to parse) bounded output.
            do {
                let output = try Compression.decompress(garbage, codec: codec, maxOutputBytes: 1 << 20)
                #expect(output.count <= 1 << 20)
            } catch let error as CompressionError {
                #expect(error.code == .malformedInput || error.code == .outputLimitExceeded)
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
    }

    @Test func snappyWritesXerialFramingInJavaBlocks() throws {
        let input = Self.logLines(count: 2000)  // > 100 KiB: several 32 KiB blocks
        let compressed = try Compression.compress(input, codec: .snappy)
        #expect(Array(compressed.prefix(8)) == [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00])
        #expect(Array(compressed[8..<16]) == [0, 0, 0, 1, 0, 0, 0, 1])
        // Walk the blocks: their count is the input split in 32 KiB pieces.
        var offset = 16
        var blocks = 0
        while offset < compressed.count {
            let length = compressed[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
            offset += 4 + length
            blocks += 1
        }
        #expect(offset == compressed.count)
        #expect(blocks == (input.count + 32 * 1024 - 1) / (32 * 1024))
    }

    @Test func snappyReadsRawBlocksAsLibrdkafkaWritesThem() throws {
        // A raw snappy block is the xerial payload of a single block: strip the framing.
        let input = Self.logLines(count: 200)
        let framed = try Compression.compress(input, codec: .snappy)
        let raw = Array(framed[20...])
        #expect(input.count < 32 * 1024)
        #expect(try Compression.decompress(raw, codec: .snappy, maxOutputBytes: input.count) == input)
        let error = #expect(throws: CompressionError.self) {
            try Compression.decompress(raw, codec: .snappy, maxOutputBytes: input.count - 1)
        }
        #expect(error?.code == .outputLimitExceeded)
    }

    @Test func snappyXerialBlockLengthPastTheEndIsRejected() {
        var framed: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]
        framed += [0x7F, 0xFF, 0xFF, 0xFF, 1, 2, 3]
        let error = #expect(throws: CompressionError.self) {
            try Compression.decompress(framed, codec: .snappy, maxOutputBytes: 1 << 20)
        }
        #expect(error?.code == .malformedInput)
    }

    @Test func codecNamesMatchKafka() {
        #expect(CompressionCodec.allCases.map(\.description) == ["none", "gzip", "snappy", "lz4", "zstd"])
        #expect(CompressionCodec(name: "ZSTD") == .zstd)
        #expect(CompressionCodec(name: "brotli") == nil)
    }
}
