import CLZ4

/// lz4 as Kafka frames it since KIP-57: the LZ4 frame format, 64 KiB independent blocks.
enum LZ4Frame {
    /// liblz4's default (fast) level; Kafka's Java client defaults to 9, librdkafka to the fast one.
    static let defaultLevel = 0

    static func compress(_ input: UnsafeRawBufferPointer, level: Int?) throws -> [UInt8] {
        var preferences = LZ4F_preferences_t()
        preferences.frameInfo.blockSizeID = LZ4F_max64KB
        preferences.frameInfo.blockMode = LZ4F_blockIndependent
        preferences.compressionLevel = Int32(level ?? defaultLevel)
        let capacity = LZ4F_compressFrameBound(input.count, &preferences)
        var output = [UInt8](repeating: 0, count: capacity)
        let written = output.withUnsafeMutableBytes { out in
            LZ4F_compressFrame(out.baseAddress, out.count, input.baseAddress, input.count, &preferences)
        }
        guard LZ4F_isError(written) == 0 else {
            throw CompressionError(.libraryFailure, codec: .lz4, String(cString: LZ4F_getErrorName(written)))
        }
        output.removeLast(output.count - written)
        return output
    }

    static func decompress(_ input: UnsafeRawBufferPointer, maxOutputBytes: Int) throws -> [UInt8] {
        var context: OpaquePointer?
        let created = LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))
        guard LZ4F_isError(created) == 0, let context else {
            throw CompressionError(.libraryFailure, codec: .lz4, "LZ4F_createDecompressionContext failed")
        }
        defer { LZ4F_freeDecompressionContext(context) }
        var output = BoundedOutput(expected: input.count * 4, limit: maxOutputBytes, codec: .lz4)
        var consumed = 0
        while true {
            try output.reserveSpace()
            let (hint, filledSpace): (Int, Bool) = try output.withFreeSpace { free in
                var destinationSize = free.count
                var sourceSize = input.count - consumed
                let hint = LZ4F_decompress(
                    context, free.baseAddress, &destinationSize, input.baseAddress.map { $0 + consumed }, &sourceSize, nil)
                if LZ4F_isError(hint) != 0 {
                    throw CompressionError(.malformedInput, codec: .lz4, String(cString: LZ4F_getErrorName(hint)))
                }
                consumed += sourceSize
                return (destinationSize, (hint, destinationSize == free.count))
            }
            let inputConsumed = consumed == input.count
            // hint 0: a frame just ended; the context is ready for another frame if input remains.
            if hint == 0, inputConsumed { return output.finish() }
            if inputConsumed, !filledSpace {
                throw CompressionError(.malformedInput, codec: .lz4, "truncated lz4 frame")
            }
        }
    }
}
