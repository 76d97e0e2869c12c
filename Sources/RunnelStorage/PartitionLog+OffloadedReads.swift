/// Runs blocking file work (reads that wait for the disk) on threads that may block: the
/// broker's read pool. Storage knows no threads of its own; the broker supplies them.
public protocol BlockingReadExecutor: Sendable {
    func run<Result: Sendable>(_ work: @escaping @Sendable () throws -> Result) async throws -> Result
}

extension FileSlice {
    /// Whether every byte of the slice is in the page cache, so that sending it (sendfile)
    /// will not wait for the disk.
    public var isInPageCache: Bool { file.isCached(at: position, length: length) }

    /// Reads the slice's bytes into the page cache, waiting for the disk. Blocking: only on a
    /// thread that may wait (a `BlockingReadExecutor`).
    public func loadIntoPageCache() throws(StorageError) {
        try file.loadIntoPageCache(at: position, length: length)
    }
}

extension PartitionLog {
    /// `read(from:maxBytes:upTo:minimumOneBatch:mode:)` for a caller on an event loop: every
    /// wait for the disk happens on `executor`, never on the caller's thread.
    ///
    /// The read is tried from the page cache first (preadv2 with RWF_NOWAIT), which is what a
    /// consumer at the tail of the log gets: no thread hop. When a header it needs is not cached
    /// the whole read moves to `executor`. When the headers were cached but the record bytes are
    /// not, the bytes are loaded into the page cache on `executor` before the slice is returned:
    /// sendfile of cold bytes would otherwise read them from the disk inside the event loop's
    /// write. (Pages evicted again before the send are read there after all: memory pressure
    /// that severe is rare, and the send is still correct.)
    public func read(
        from offset: Int64, maxBytes: Int, upTo: Int64? = nil, minimumOneBatch: Bool = true,
        offloadingTo executor: some BlockingReadExecutor
    ) async throws -> FileSlice? {
        let cached: FileSlice?
        do {
            cached = try read(from: offset, maxBytes: maxBytes, upTo: upTo, minimumOneBatch: minimumOneBatch, mode: .cachedOnly)
        } catch where error.code == .wouldBlock {
            return try await readOffloaded(
                from: offset, maxBytes: maxBytes, upTo: upTo, minimumOneBatch: minimumOneBatch, executor: executor)
        }
        guard let cached, !cached.isInPageCache else { return cached }
        try await executor.run { try cached.loadIntoPageCache() }
        return cached
    }

    /// The read on `executor`, allowed to wait for the disk, with the slice's bytes loaded into
    /// the page cache before it is returned.
    func readOffloaded(
        from offset: Int64, maxBytes: Int, upTo: Int64?, minimumOneBatch: Bool, executor: some BlockingReadExecutor
    ) async throws -> FileSlice? {
        try await executor.run { [self] in
            let slice = try read(from: offset, maxBytes: maxBytes, upTo: upTo, minimumOneBatch: minimumOneBatch, mode: .blocking)
            try slice?.loadIntoPageCache()
            return slice
        }
    }
}
