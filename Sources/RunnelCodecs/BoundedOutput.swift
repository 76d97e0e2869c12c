/// A growable output buffer for streaming decompressors that refuses to grow past a limit.
///
/// Decompressors ask for free space, write into it and report how much they wrote. The buffer
/// grows to at most `limit + 1` bytes: the one byte of slack tells "exactly at the limit" from
/// "inflates past it", and going past stops decompression with `outputLimitExceeded` instead of
/// exhausting memory.
struct BoundedOutput {
    private(set) var bytes: [UInt8]
    private(set) var count = 0
    let limit: Int
    let codec: CompressionCodec

    init(expected: Int, limit: Int, codec: CompressionCodec) {
        self.limit = max(0, limit)
        self.codec = codec
        bytes = [UInt8](repeating: 0, count: min(self.limit + 1, max(expected + 1, 4096)))
    }

    /// Makes sure some free space exists, growing by doubling up to the limit.
    mutating func reserveSpace() throws {
        guard count <= limit else { throw limitExceeded() }
        guard count == bytes.count else { return }
        let grown = min(limit + 1, max(bytes.count * 2, 4096))
        bytes.append(contentsOf: repeatElement(0, count: grown - bytes.count))
    }

    /// Runs `body` with the free space; `body` returns how many bytes it wrote there.
    mutating func withFreeSpace<R>(
        _ body: (UnsafeMutableRawBufferPointer) throws -> (written: Int, result: R)
    ) throws -> R {
        let start = count
        let outcome = try bytes.withUnsafeMutableBytes { all in
            try body(UnsafeMutableRawBufferPointer(rebasing: all[start...]))
        }
        count += outcome.written
        guard count <= limit else { throw limitExceeded() }
        return outcome.result
    }

    /// Appends bytes that were produced elsewhere, respecting the limit.
    mutating func append(_ chunk: UnsafeRawBufferPointer) throws {
        guard count + chunk.count <= limit else { throw limitExceeded() }
        if bytes.count < count + chunk.count {
            bytes.append(contentsOf: repeatElement(0, count: count + chunk.count - bytes.count))
        }
        bytes.withUnsafeMutableBytes { all in
            UnsafeMutableRawBufferPointer(rebasing: all[count..<(count + chunk.count)]).copyMemory(from: chunk)
        }
        count += chunk.count
    }

    private func limitExceeded() -> CompressionError {
        CompressionError(.outputLimitExceeded, codec: codec, "output exceeds the limit of \(limit) bytes")
    }

    /// The produced bytes, trimmed to size.
    consuming func finish() -> [UInt8] {
        bytes.removeLast(bytes.count - count)
        return bytes
    }
}
