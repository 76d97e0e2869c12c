#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// An open file of the log (segment data or index), with positional I/O only.
///
/// Positional reads and writes (pread/pwrite) never move a shared file offset, so readers and
/// the appender need no coordination beyond the partition's own bookkeeping. The descriptor is
/// closed when the last reference goes away, so a fetch still sending from a segment that
/// retention just deleted keeps a valid file until it finishes.
public final class LogFile: @unchecked Sendable {
    public let path: String
    /// The descriptor, for sendfile. Immutable after init; closed in deinit.
    public let descriptor: CInt

    public init(path: String, create: Bool) throws(StorageError) {
        self.path = path
        let flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0)
        let descriptor = open(path, flags, 0o644)
        guard descriptor >= 0 else { throw StorageError.posix("open", path: path) }
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    public func size() throws(StorageError) -> Int {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw StorageError.posix("fstat", path: path) }
        return Int(info.st_size)
    }

    /// Writes `head` then `body` contiguously at `offset` with one vectored write (pwritev), so
    /// a batch whose first bytes were re-stamped goes to disk without copying the rest of it.
    public func write(head: ByteBuffer, body: ByteBuffer, at offset: Int) throws(StorageError) {
        let written: Int = head.withUnsafeReadableBytes { headBytes in
            body.withUnsafeReadableBytes { bodyBytes in
                var vectors = [
                    iovec(iov_base: UnsafeMutableRawPointer(mutating: headBytes.baseAddress), iov_len: headBytes.count),
                    iovec(iov_base: UnsafeMutableRawPointer(mutating: bodyBytes.baseAddress), iov_len: bodyBytes.count),
                ]
                while true {
                    let result = pwritev(descriptor, &vectors, 2, off_t(offset))
                    if result < 0, errno == EINTR { continue }
                    return result
                }
            }
        }
        guard written >= 0 else { throw StorageError.posix("pwritev", path: path) }
        // A short vectored write is legal; finish what is left with plain writes.
        let total = head.readableBytes + body.readableBytes
        guard written < total else { return }
        if written < head.readableBytes {
            try write(head.getSlice(at: head.readerIndex + written, length: head.readableBytes - written)!, at: offset + written)
            try write(body, at: offset + head.readableBytes)
        } else {
            let done = written - head.readableBytes
            try write(body.getSlice(at: body.readerIndex + done, length: body.readableBytes - done)!, at: offset + written)
        }
    }

    public func write(_ buffer: ByteBuffer, at offset: Int) throws(StorageError) {
        let failure: StorageError? = buffer.withUnsafeReadableBytes { bytes in
            var done = 0
            while done < bytes.count {
                let written = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
                if written < 0 {
                    if errno == EINTR { continue }
                    return StorageError.posix("pwrite", path: path)
                }
                done += written
            }
            return nil
        }
        if let failure { throw failure }
    }

    /// Reads `length` bytes at `offset`, or fewer if the file ends first.
    public func read(at offset: Int, length: Int) throws(StorageError) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: length)
        var failed = false
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { bytes in
            var done = 0
            while done < length {
                let count = pread(descriptor, bytes.baseAddress! + done, length - done, off_t(offset + done))
                if count < 0 {
                    if errno == EINTR { continue }
                    failed = true
                    break
                }
                if count == 0 { break }
                done += count
            }
            return done
        }
        if failed { throw StorageError.posix("pread", path: path) }
        return buffer
    }

    /// Flushes data (and the size, if it changed) to the device.
    public func sync() throws(StorageError) {
        guard fdatasync(descriptor) == 0 else { throw StorageError.posix("fdatasync", path: path) }
    }

    public func truncate(to size: Int) throws(StorageError) {
        guard ftruncate(descriptor, off_t(size)) == 0 else { throw StorageError.posix("ftruncate", path: path) }
    }
}

/// How the log makes its writes durable: fdatasync of a file, fsync of a directory.
///
/// The broker always uses `.system`. It is a value the log is given, not a call it makes, so
/// that tests can make an fsync fail on demand: no disk fails when asked to, and what the log
/// does after a failed fsync (take its directory offline, never call those bytes durable) is
/// the part that matters most and is otherwise never exercised.
public struct FileSyncer: Sendable {
    public var syncFile: @Sendable (LogFile) throws(StorageError) -> Void
    public var syncDirectory: @Sendable (String) throws(StorageError) -> Void

    public init(
        syncFile: @escaping @Sendable (LogFile) throws(StorageError) -> Void,
        syncDirectory: @escaping @Sendable (String) throws(StorageError) -> Void
    ) {
        self.syncFile = syncFile
        self.syncDirectory = syncDirectory
    }

    public static let system = FileSyncer(
        syncFile: { file throws(StorageError) in try file.sync() },
        syncDirectory: { path throws(StorageError) in try FileSystem.syncDirectory(path) })
}

/// Small filesystem helpers the log needs besides open files.
enum FileSystem {
    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func remove(_ path: String) throws(StorageError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw StorageError.posix("unlink", path: path) }
    }

    static func rename(_ from: String, to: String) throws(StorageError) {
        guard Glibc.rename(from, to) == 0 else { throw StorageError.posix("rename", path: from) }
    }

    static func makeDirectory(_ path: String) throws(StorageError) {
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw StorageError.posix("mkdir", path: path) }
    }

    /// Makes a directory and any missing parents (`mkdir -p`).
    static func makeDirectories(_ path: String) throws(StorageError) {
        let parent = parent(of: path)
        if parent != path, parent != ".", parent != "/", !isDirectory(parent) { try makeDirectories(parent) }
        try makeDirectory(path)
    }

    /// fsyncs a directory so that a create, rename or unlink inside it is durable.
    static func syncDirectory(_ path: String) throws(StorageError) {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw StorageError.posix("open", path: path) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw StorageError.posix("fsync", path: path) }
    }

    static func listDirectory(_ path: String) throws(StorageError) -> [String] {
        guard let directory = opendir(path) else { throw StorageError.posix("opendir", path: path) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Removes a directory and everything in it (one level of files, as partition directories are).
    /// A file created while it empties the directory (a log cleaner or fetcher that had not yet
    /// seen the deletion) is removed by the next pass.
    static func removeDirectory(_ path: String) throws(StorageError) {
        for attempt in 1...5 {
            guard FileSystem.isDirectory(path) else { return }
            for name in try listDirectory(path) { try remove(path + "/" + name) }
            if rmdir(path) == 0 || errno == ENOENT { return }
            guard errno == ENOTEMPTY, attempt < 5 else { throw StorageError.posix("rmdir", path: path) }
        }
    }

    /// Writes a small file atomically: temporary file, fsync, rename, fsync of the directory.
    static func writeAtomically(_ contents: String, to path: String) throws(StorageError) {
        let temporary = path + ".tmp"
        let file = try LogFile(path: temporary, create: true)
        try file.truncate(to: 0)
        try file.write(ByteBuffer(string: contents), at: 0)
        try file.sync()
        try rename(temporary, to: path)
        try syncDirectory(parent(of: path))
    }

    static func readText(_ path: String) throws(StorageError) -> String {
        let file = try LogFile(path: path, create: false)
        var bytes = try file.read(at: 0, length: try file.size())
        return bytes.readString(length: bytes.readableBytes) ?? ""
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
