import CZstd

/// zstd as Kafka frames it: standard zstd frames (KIP-110).
enum Zstd {
    /// Kafka's default zstd level (ZSTD_CLEVEL_DEFAULT).
    static let defaultLevel = 3

    static func compress(_ input: UnsafeRawBufferPointer, level: Int?) throws -> [UInt8] {
        let capacity = ZSTD_compressBound(input.count)
        var output = [UInt8](repeating: 0, count: capacity)
        let written = output.withUnsafeMutableBytes { out in
            ZSTD_compress(out.baseAddress, out.count, input.baseAddress, input.count, Int32(level ?? defaultLevel))
        }
        guard ZSTD_isError(written) == 0 else {
            throw CompressionError(.libraryFailure, codec: .zstd, String(cString: ZSTD_getErrorName(written)))
        }
        output.removeLast(output.count - written)
        return output
    }

    static func decompress(_ input: UnsafeRawBufferPointer, maxOutputBytes: Int) throws -> [UInt8] {
        // A frame that declares its size lets us refuse a bomb before inflating anything.
        // ZSTD_CONTENTSIZE_UNKNOWN and _ERROR are UInt64.max and UInt64.max - 1 (macros Swift cannot import).
        let declared = ZSTD_getFrameContentSize(input.baseAddress, input.count)
        let declaresSize = declared < UInt64.max - 1
        if declaresSize, declared > UInt64(maxOutputBytes) {
            throw CompressionError(.outputLimitExceeded, codec: .zstd, "frame declares \(declared) bytes, limit is \(maxOutputBytes)")
        }
        guard let context = ZSTD_createDCtx() else { throw CompressionError(.libraryFailure, codec: .zstd, "ZSTD_createDCtx failed") }
        defer { ZSTD_freeDCtx(context) }
        let expected = declaresSize ? Int(declared) : input.count * 4
        var output = BoundedOutput(expected: expected, limit: maxOutputBytes, codec: .zstd)
        var source = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        while true {
            try output.reserveSpace()
            let (hint, filledSpace): (Int, Bool) = try output.withFreeSpace { free in
                var sink = ZSTD_outBuffer(dst: free.baseAddress, size: free.count, pos: 0)
                let hint = ZSTD_decompressStream(context, &sink, &source)
                if ZSTD_isError(hint) != 0 {
                    throw CompressionError(.malformedInput, codec: .zstd, String(cString: ZSTD_getErrorName(hint)))
                }
                return (sink.pos, (hint, sink.pos == sink.size))
            }
            let inputConsumed = source.pos == source.size
            // hint 0: a frame just ended. Another frame may follow in the remaining input.
            if hint == 0, inputConsumed { return output.finish() }
            // Input gone, frame unfinished and output not the bottleneck: the frame is cut short.
            if inputConsumed, !filledSpace {
                throw CompressionError(.malformedInput, codec: .zstd, "truncated zstd frame")
            }
        }
    }
}
