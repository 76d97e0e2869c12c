import NIOCore

/// A byte range of a segment file holding whole record batches: what a fetch sends with
/// sendfile. Holding the slice keeps the file open even if retention deletes the segment.
public struct FileSlice: Sendable {
    public let file: LogFile
    public let position: Int
    public let length: Int
    /// The offsets the slice covers: first batch's base offset, last batch's last offset + 1.
    public let firstOffset: Int64
    public let nextOffset: Int64

    /// Copies the bytes into memory (for tests, TLS listeners, and tools; fetches use sendfile).
    public func readBytes() throws(StorageError) -> ByteBuffer {
        try file.read(at: position, length: length)
    }
}
