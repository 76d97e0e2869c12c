import CZlib

/// gzip as Kafka frames it: a standard gzip stream (RFC 1952), as Java's GZIPOutputStream writes.
enum Gzip {
    /// Kafka's default gzip level is zlib's default (6).
    static let defaultLevel = Int(Z_DEFAULT_COMPRESSION)
    /// windowBits 15 with +16 asks zlib for a gzip wrapper instead of a zlib one.
    private static let gzipWindowBits: Int32 = 15 + 16

    static func compress(_ input: UnsafeRawBufferPointer, level: Int?) throws -> [UInt8] {
        var stream = z_stream()
        var status = deflateInit2_(
            &stream, Int32(level ?? defaultLevel), Z_DEFLATED, gzipWindowBits, 8, Z_DEFAULT_STRATEGY,
            ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw CompressionError(.libraryFailure, codec: .gzip, "deflateInit2 returned \(status)") }
        defer { deflateEnd(&stream) }
        // deflateBound does not count the gzip header and trailer (18 bytes); add a margin.
        let capacity = Int(deflateBound(&stream, uLong(input.count))) + 64
        var output = [UInt8](repeating: 0, count: capacity)
        let written: Int = output.withUnsafeMutableBytes { out in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(input.count)
            stream.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(out.count)
            status = deflate(&stream, Z_FINISH)
            return out.count - Int(stream.avail_out)
        }
        guard status == Z_STREAM_END else { throw CompressionError(.libraryFailure, codec: .gzip, "deflate returned \(status)") }
        output.removeLast(output.count - written)
        return output
    }

    /// Inflates one or more concatenated gzip members (Java's GZIPInputStream reads them all).
    static func decompress(_ input: UnsafeRawBufferPointer, maxOutputBytes: Int) throws -> [UInt8] {
        var stream = z_stream()
        var status = inflateInit2_(&stream, gzipWindowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw CompressionError(.libraryFailure, codec: .gzip, "inflateInit2 returned \(status)") }
        defer { inflateEnd(&stream) }
        var output = BoundedOutput(expected: input.count * 4, limit: maxOutputBytes, codec: .gzip)
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(input.count)
        while true {
            try output.reserveSpace()
            status = try output.withFreeSpace { free in
                stream.next_out = free.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(free.count)
                let status = inflate(&stream, Z_NO_FLUSH)
                return (free.count - Int(stream.avail_out), status)
            }
            switch status {
            case Z_STREAM_END:
                guard stream.avail_in > 0 else { return output.finish() }
                inflateReset(&stream)  // another gzip member follows
            case Z_OK:
                continue
            case Z_BUF_ERROR where stream.avail_in == 0:
                throw CompressionError(.malformedInput, codec: .gzip, "truncated gzip stream")
            case Z_BUF_ERROR:
                continue  // needs more output space; reserveSpace grows it or reports the limit
            default:
                let reason = stream.msg.map { String(cString: $0) } ?? "status \(status)"
                throw CompressionError(.malformedInput, codec: .gzip, reason)
            }
        }
    }
}
