/// Compresses and decompresses record sections exactly as Kafka frames each codec.
///
/// Decompression is always bounded: `maxOutputBytes` caps what the input may inflate to, and
/// going past it throws `CompressionError.Code.outputLimitExceeded` before memory runs out.
public enum Compression {
    /// Compresses `input`; `level` nil means the codec's Kafka default.
    public static func compress(_ input: UnsafeRawBufferPointer, codec: CompressionCodec, level: Int? = nil) throws -> [UInt8] {
        switch codec {
        case .none: Array(input)
        case .gzip: try Gzip.compress(input, level: level)
        case .snappy: try Snappy.compressXerial(input)
        case .lz4: try LZ4Frame.compress(input, level: level)
        case .zstd: try Zstd.compress(input, level: level)
        }
    }

    /// Decompresses `input`, refusing to produce more than `maxOutputBytes`.
    public static func decompress(_ input: UnsafeRawBufferPointer, codec: CompressionCodec, maxOutputBytes: Int) throws -> [UInt8] {
        switch codec {
        case .none:
            guard input.count <= maxOutputBytes else {
                throw CompressionError(.outputLimitExceeded, codec: codec, "\(input.count) bytes exceed the limit of \(maxOutputBytes)")
            }
            return Array(input)
        case .gzip: return try Gzip.decompress(input, maxOutputBytes: maxOutputBytes)
        case .snappy: return try Snappy.decompress(input, maxOutputBytes: maxOutputBytes)
        case .lz4: return try LZ4Frame.decompress(input, maxOutputBytes: maxOutputBytes)
        case .zstd: return try Zstd.decompress(input, maxOutputBytes: maxOutputBytes)
        }
    }

    public static func compress(_ input: [UInt8], codec: CompressionCodec, level: Int? = nil) throws -> [UInt8] {
        try input.withUnsafeBytes { try compress($0, codec: codec, level: level) }
    }

    public static func decompress(_ input: [UInt8], codec: CompressionCodec, maxOutputBytes: Int) throws -> [UInt8] {
        try input.withUnsafeBytes { try decompress($0, codec: codec, maxOutputBytes: maxOutputBytes) }
    }
}
