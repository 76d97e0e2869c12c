import NIOCore
import RunnelProtocol

/// Walks the batches of a segment's `.log` file in order, reading it in large chunks.
///
/// Recovery validates every batch (length, magic, CRC) and stops at the first that fails: that
/// is where a torn or corrupt tail starts. Loading after a clean shutdown only chains headers
/// from the last index entry to the end of the file to find the log end.
struct SegmentScanner {
    /// What the scan saw of one batch.
    struct Batch {
        var position: Int
        var header: RecordBatchHeader
        /// The whole validated batch, when the scan validates (the log cleaner reads its records).
        var validated: RecordBatch?
    }

    enum Stop: Equatable {
        /// Every byte up to the end of the file belongs to a whole batch.
        case endOfFile
        /// The bytes at `position` are not a whole valid batch (torn write, corruption).
        case invalidBatch(position: Int, reason: String)
        /// `visit` asked to stop.
        case stopped
    }

    /// Recovery reads the whole file: large chunks. Lookups walk a few batches from an index
    /// entry (index.interval.bytes apart): small chunks, and only headers.
    static let recoveryChunkSize = 1 << 20
    static let lookupChunkSize = 16 * 1024

    /// Calls `visit` for each batch from `position` up to `end` (the segment's size: bytes past
    /// it are not part of the log yet) or until `visit` returns false, and says why the walk
    /// stopped. Validating reads every byte of every batch; otherwise only headers are read.
    /// With `mode` `.cachedOnly` a chunk that is not in the page cache throws `wouldBlock`.
    @discardableResult
    static func scan(
        _ file: LogFile, from position: Int, to end: Int, validate: Bool, mode: FileReadMode = .blocking,
        visit: (Batch) throws(StorageError) -> Bool
    ) throws(StorageError) -> Stop {
        let chunkSize = validate ? recoveryChunkSize : lookupChunkSize
        var chunk = ByteBuffer()
        var chunkStart = position
        var cursor = position
        while cursor < end {
            // Make sure the chunk holds at least the next batch's header, then the whole batch.
            if cursor + RecordBatchHeader.logOverhead > chunkStart + chunk.readableBytes {
                chunk = try file.read(at: cursor, length: min(chunkSize, end - cursor), mode: mode)
                chunkStart = cursor
            }
            let inChunk = cursor - chunkStart
            guard let batchLength = chunk.getInteger(
                at: chunk.readerIndex + inChunk + RecordBatchHeader.Offset.batchLength, endianness: .big, as: Int32.self)
            else { return .invalidBatch(position: cursor, reason: "truncated batch header") }
            let size = Int(batchLength) + RecordBatchHeader.logOverhead
            guard size >= RecordBatchHeader.size else {
                return .invalidBatch(position: cursor, reason: "batchLength \(batchLength) is shorter than a header")
            }
            guard cursor + size <= end else {
                return .invalidBatch(position: cursor, reason: "batch of \(size) bytes runs past the end of the segment")
            }
            let needed = validate ? size : RecordBatchHeader.size
            if inChunk + needed > chunk.readableBytes {
                chunk = try file.read(at: cursor, length: min(max(chunkSize, needed), end - cursor), mode: mode)
                chunkStart = cursor
            }
            let start = chunk.readerIndex + cursor - chunkStart
            let header: RecordBatchHeader
            var validated: RecordBatch?
            do {
                if validate {
                    validated = try RecordBatch(validating: chunk.getSlice(at: start, length: size)!)
                    header = validated!.header
                } else {
                    header = try RecordBatchHeader(from: chunk, at: start)
                    guard header.magic == RecordBatchHeader.currentMagic else {
                        return .invalidBatch(position: cursor, reason: "magic \(header.magic)")
                    }
                    guard header.hasValidOffsetRange else {
                        return .invalidBatch(
                            position: cursor, reason: "offsets \(header.baseOffset) + \(header.lastOffsetDelta) out of range")
                    }
                }
            } catch {
                return .invalidBatch(position: cursor, reason: error.description)
            }
            guard try visit(Batch(position: cursor, header: header, validated: validated)) else { return .stopped }
            cursor += size
        }
        return .endOfFile
    }
}
