import CSnappy

/// snappy as Kafka clients frame it. Java producers write the xerial snappy-java stream:
///
///     magic 0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00 | version int32 (1) | compatible int32 (1)
///     then blocks: compressed length int32 (big-endian) | raw snappy block
///
/// librdkafka writes one raw snappy block with no framing. Decompression accepts both, telling
/// them apart by the magic; compression writes the xerial framing, like the Java client.
enum Snappy {
    static let xerialMagic: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00]
    static let xerialHeaderSize = 16
    /// snappy-java's default block size, which the Java client uses.
    static let xerialBlockSize = 32 * 1024

    static func compressXerial(_ input: UnsafeRawBufferPointer) throws -> [UInt8] {
        var output = xerialMagic
        output.reserveCapacity(xerialHeaderSize + input.count + input.count / 6 + 64)
        appendBigEndian(Int32(1), to: &output)  // version
        appendBigEndian(Int32(1), to: &output)  // minimum compatible version
        var offset = 0
        repeat {
            let blockLength = min(xerialBlockSize, input.count - offset)
            let block = UnsafeRawBufferPointer(rebasing: input[offset..<(offset + blockLength)])
            let compressed = try compressRaw(block)
            appendBigEndian(Int32(compressed.count), to: &output)
            output.append(contentsOf: compressed)
            offset += blockLength
        } while offset < input.count
        return output
    }

    static func compressRaw(_ input: UnsafeRawBufferPointer) throws -> [UInt8] {
        var length = snappy_max_compressed_length(input.count)
        var output = [UInt8](repeating: 0, count: length)
        let status = output.withUnsafeMutableBytes { out in
            snappy_compress(
                input.baseAddress?.assumingMemoryBound(to: CChar.self), input.count,
                out.baseAddress?.assumingMemoryBound(to: CChar.self), &length)
        }
        guard status == SNAPPY_OK else { throw CompressionError(.libraryFailure, codec: .snappy, "snappy_compress returned \(status)") }
        output.removeLast(output.count - length)
        return output
    }

    static func decompress(_ input: UnsafeRawBufferPointer, maxOutputBytes: Int) throws -> [UInt8] {
        if input.count >= xerialMagic.count, input.prefix(xerialMagic.count).elementsEqual(xerialMagic) {
            return try decompressXerial(input, maxOutputBytes: maxOutputBytes)
        }
        var output = BoundedOutput(expected: 0, limit: maxOutputBytes, codec: .snappy)
        try decompressRawBlock(input, into: &output)
        return output.finish()
    }

    private static func decompressXerial(_ input: UnsafeRawBufferPointer, maxOutputBytes: Int) throws -> [UInt8] {
        guard input.count >= xerialHeaderSize else {
            throw CompressionError(.malformedInput, codec: .snappy, "truncated xerial header")
        }
        var output = BoundedOutput(expected: 0, limit: maxOutputBytes, codec: .snappy)
        var offset = xerialHeaderSize
        while offset < input.count {
            guard input.count - offset >= 4 else {
                throw CompressionError(.malformedInput, codec: .snappy, "truncated xerial block length")
            }
            let length = Int(Int32(bigEndianBytes: input, at: offset))
            offset += 4
            guard length >= 0, length <= input.count - offset else {
                throw CompressionError(.malformedInput, codec: .snappy, "xerial block length \(length) exceeds the input")
            }
            try decompressRawBlock(UnsafeRawBufferPointer(rebasing: input[offset..<(offset + length)]), into: &output)
            offset += length
        }
        return output.finish()
    }

    /// A raw block states its uncompressed length up front: check it against the limit first.
    private static func decompressRawBlock(_ block: UnsafeRawBufferPointer, into output: inout BoundedOutput) throws {
        let source = block.baseAddress?.assumingMemoryBound(to: CChar.self)
        var length = 0
        guard snappy_uncompressed_length(source, block.count, &length) == SNAPPY_OK,
              snappy_validate_compressed_buffer(source, block.count) == SNAPPY_OK
        else {
            throw CompressionError(.malformedInput, codec: .snappy, "invalid snappy block")
        }
        guard length <= output.limit - output.count else {
            throw CompressionError(.outputLimitExceeded, codec: .snappy, "output exceeds the limit of \(output.limit) bytes")
        }
        var scratch = [UInt8](repeating: 0, count: length)
        let status = scratch.withUnsafeMutableBytes { out in
            snappy_uncompress(source, block.count, out.baseAddress?.assumingMemoryBound(to: CChar.self), &length)
        }
        guard status == SNAPPY_OK else { throw CompressionError(.malformedInput, codec: .snappy, "snappy_uncompress returned \(status)") }
        try scratch.withUnsafeBytes { try output.append(UnsafeRawBufferPointer(rebasing: $0[..<length])) }
    }

    private static func appendBigEndian(_ value: Int32, to output: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { output.append(contentsOf: $0) }
    }
}

extension Int32 {
    init(bigEndianBytes bytes: UnsafeRawBufferPointer, at offset: Int) {
        self = Int32(bitPattern: UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3]))
    }
}
