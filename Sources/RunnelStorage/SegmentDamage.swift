#if canImport(Glibc)
import Glibc
#endif

/// Bytes that recovery cut off the end of a segment because they are not whole valid batches
/// (a torn write, a truncated or corrupted file), and where they were kept.
///
/// The bytes are never simply dropped: they are copied to `<base>.log.<unix ms>.corrupt` next
/// to the segment (fsynced before the segment is truncated), which the loader never reads and
/// nothing deletes, so an operator can inspect or salvage them. Only the damaged segment is
/// cut; later intact segments stay (see LogLoader).
public struct SegmentDamage: Sendable, Equatable, CustomStringConvertible {
    /// The `.log` file that was cut.
    public var logPath: String
    /// Where the cut was made: the end of the last valid batch.
    public var position: Int
    /// How many bytes were cut (and copied to `corruptPath`).
    public var bytes: Int
    /// The offsets that were in the cut bytes: from the first one after the last valid batch
    /// up to, but not including, `lostOffsetsEnd` — the next segment's base offset, or nil for
    /// the last segment (whose lost end is unknown).
    public var firstLostOffset: Int64
    public var lostOffsetsEnd: Int64?
    /// The file the cut bytes were moved to.
    public var corruptPath: String
    /// Why the batch at `position` was rejected.
    public var reason: String

    public var description: String {
        let offsets = lostOffsetsEnd.map { $0 > firstLostOffset ? "offsets \(firstLostOffset) to \($0 - 1)" : "no offsets" }
            ?? "offsets from \(firstLostOffset) on"
        return "\(logPath): cut \(bytes) bytes at position \(position) (\(offsets)) because \(reason); "
            + "the bytes were moved to \(corruptPath)"
    }

    /// A name for the `.corrupt` copy of `logPath` that no file has yet.
    static func corruptPath(for logPath: String, now: Int64) -> String {
        var path = logPath + ".\(now).corrupt"
        var attempt = 0
        while FileSystem.exists(path) {
            // Two cuts of the same segment in one millisecond: keep both copies.
            attempt += 1
            path = logPath + ".\(now)-\(attempt).corrupt"
        }
        return path
    }

    /// Copies `file`'s bytes from `position` to `end` into a new `.corrupt` file next to it and
    /// makes the copy durable (file and directory fsync), so the caller may then truncate.
    static func moveAside(_ file: LogFile, from position: Int, to end: Int, now: Int64) throws(StorageError) -> String {
        let path = corruptPath(for: file.path, now: now)
        let copy = try LogFile(path: path, create: true)
        let chunkSize = 1 << 20
        var done = 0
        while position + done < end {
            let chunk = try file.read(at: position + done, length: min(chunkSize, end - position - done))
            guard chunk.readableBytes > 0 else { break }  // the file is shorter than its recorded size
            try copy.write(chunk, at: done)
            done += chunk.readableBytes
        }
        try copy.sync()
        try FileSystem.syncDirectory(FileSystem.parent(of: path))
        return path
    }
}
