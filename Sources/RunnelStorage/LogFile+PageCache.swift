#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// How a read of a log file may wait for the disk.
///
/// Fetches run on the event loops, where a read that waits for the disk stalls every
/// connection of that loop. They first read in `cachedOnly` mode, which is served from the page
/// cache or not at all, and hand the read to a thread that may block only when that fails.
public enum FileReadMode: Sendable {
    /// pread: waits for the disk when the bytes are not in the page cache.
    case blocking
    /// preadv2 with RWF_NOWAIT: only bytes already in the page cache; a read that would have
    /// to wait for the disk throws `StorageError.Code.wouldBlock` instead.
    case cachedOnly
}

extension LogFile {
    /// Reads `length` bytes at `offset` (fewer if the file ends first) as `mode` allows.
    func read(at offset: Int, length: Int, mode: FileReadMode) throws(StorageError) -> ByteBuffer {
        switch mode {
        case .blocking:
            return try read(at: offset, length: length)
        case .cachedOnly:
            guard let bytes = try readIfCached(at: offset, length: length) else {
                throw StorageError(.wouldBlock, "\(path) at \(offset): \(length) bytes are not in the page cache")
            }
            return bytes
        }
    }

    /// Reads `length` bytes at `offset` (fewer if the file ends first) if every one of them is in
    /// the page cache; nil if the read would have to wait for the disk.
    ///
    /// preadv2(RWF_NOWAIT) returns the cached prefix of a range and EAGAIN once it reaches a
    /// page that is not cached. A kernel or file system without RWF_NOWAIT (EOPNOTSUPP, ENOSYS,
    /// EINVAL, or a C library without preadv2) answers nil too: the caller then reads on a
    /// thread that may block, which is always correct, only slower.
    func readIfCached(at offset: Int, length: Int) throws(StorageError) -> ByteBuffer? {
        guard let preadv2 = NoWaitRead.preadv2 else { return nil }
        var buffer = ByteBufferAllocator().buffer(capacity: length)
        var outcome: Int32 = 0  // 0 read, EAGAIN-like would block, other errno failed
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { bytes in
            var done = 0
            while done < length {
                var vector = iovec(iov_base: bytes.baseAddress! + done, iov_len: length - done)
                let count = preadv2(descriptor, &vector, 1, off_t(offset + done), NoWaitRead.flag)
                if count < 0 {
                    let code = errno
                    if code == EINTR { continue }
                    outcome = code
                    break
                }
                if count == 0 { break }
                done += count
            }
            return done
        }
        switch outcome {
        case 0: return buffer
        case EAGAIN, EOPNOTSUPP, ENOSYS, EINVAL: return nil
        default:
            errno = outcome
            throw StorageError.posix("preadv2", path: path)
        }
    }

    /// Whether every page holding bytes `offset ..< offset + length` is in the page cache
    /// (mincore over a mapping of the range, which touches no page). False when it cannot tell.
    func isCached(at offset: Int, length: Int) -> Bool {
        guard length > 0 else { return true }
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset - offset % pageSize
        let mappedLength = offset + length - start
        guard let mapping = mmap(nil, mappedLength, PROT_READ, MAP_SHARED, descriptor, off_t(start)), mapping != UnsafeMutableRawPointer(bitPattern: -1) else {
            return false
        }
        defer { munmap(mapping, mappedLength) }
        var residency = [UInt8](repeating: 0, count: (mappedLength + pageSize - 1) / pageSize)
        guard mincore(mapping, mappedLength, &residency) == 0 else { return false }
        return residency.allSatisfy { $0 & 1 == 1 }
    }

    /// Reads bytes `offset ..< offset + length` into the page cache, waiting for the disk, so
    /// that a sendfile of them afterwards does not (it would block the event loop). Blocking:
    /// call it on a thread that may wait.
    func loadIntoPageCache(at offset: Int, length: Int) throws(StorageError) {
        let chunkSize = min(length, Self.pageCacheLoadChunk)
        guard chunkSize > 0 else { return }
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { scratch.deallocate() }
        var done = 0
        while done < length {
            let count = pread(descriptor, scratch, min(chunkSize, length - done), off_t(offset + done))
            if count < 0 {
                if errno == EINTR { continue }
                throw StorageError.posix("pread", path: path)
            }
            if count == 0 { return }  // the file ends first (truncated meanwhile): nothing more to load
            done += count
        }
    }

    /// Bytes read per pread when loading a range into the page cache.
    static let pageCacheLoadChunk = 256 * 1024
}

/// preadv2 and RWF_NOWAIT, which the Glibc module does not export (both need _GNU_SOURCE):
/// the symbol is looked up in the C library once; RWF_NOWAIT is Linux's ABI value (linux/fs.h).
private enum NoWaitRead {
    typealias Function = @convention(c) (CInt, UnsafePointer<iovec>?, CInt, off_t, CInt) -> Int
    static let flag: CInt = 0x0000_0008
    static let preadv2: Function? = {
        guard let symbol = dlsym(nil, "preadv2") else { return nil }
        return unsafeBitCast(symbol, to: Function.self)
    }()
}
