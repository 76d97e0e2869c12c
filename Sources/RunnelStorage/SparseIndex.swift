import NIOCore

/// One fixed-size entry of a sparse index file.
protocol SparseIndexEntry: Sendable, Equatable {
    static var size: Int { get }
    /// The entry's big-endian encoding, appended to `buffer`.
    func write(to buffer: inout ByteBuffer)
    init(reading buffer: inout ByteBuffer) throws(StorageError)
    /// Entries must strictly increase in this key.
    var orderingKey: Int64 { get }
}

/// A sparse index: entries kept in memory for binary search, mirrored to a preallocated file.
///
/// The file is preallocated to `maxEntries` entries (Kafka's `segment.index.bytes`) so that
/// appends never grow it, and trimmed to the entries written when the segment stops being
/// active or closes. A file that was not trimmed (a crash) belongs to a segment that recovery
/// rebuilds, so zero padding is never read as entries.
struct SparseIndex<Entry: SparseIndexEntry>: Sendable {
    let file: LogFile
    let maxEntries: Int
    private(set) var entries: [Entry] = []
    private var isPreallocated = false

    var isFull: Bool { entries.count >= maxEntries }
    var last: Entry? { entries.last }

    /// Opens an index file, loading its entries; `loadEntries` false starts it empty (to rebuild).
    init(path: String, maxIndexBytes: Int, loadEntries: Bool) throws(StorageError) {
        maxEntries = max(1, maxIndexBytes / Entry.size)
        file = try LogFile(path: path, create: true)
        guard loadEntries else {
            try file.truncate(to: 0)
            return
        }
        let size = try file.size()
        guard size % Entry.size == 0, size / Entry.size <= maxEntries else {
            throw StorageError(.corruptFile, "\(path): size \(size) is not a whole number of \(Entry.size)-byte entries")
        }
        var bytes = try file.read(at: 0, length: size)
        entries.reserveCapacity(size / Entry.size)
        while bytes.readableBytes > 0 {
            let entry = try Entry(reading: &bytes)
            if let previous = entries.last, entry.orderingKey <= previous.orderingKey {
                throw StorageError(.corruptFile, "\(path): entries do not increase")
            }
            entries.append(entry)
        }
    }

    /// Appends an entry, preallocating the file on first use.
    mutating func append(_ entry: Entry) throws(StorageError) {
        precondition(!isFull, "append to a full index: the segment should have rolled")
        if !isPreallocated {
            try file.truncate(to: maxEntries * Entry.size)
            isPreallocated = true
        }
        var buffer = ByteBufferAllocator().buffer(capacity: Entry.size)
        entry.write(to: &buffer)
        try file.write(buffer, at: entries.count * Entry.size)
        entries.append(entry)
    }

    /// Shrinks the file to the entries written.
    mutating func trim() throws(StorageError) {
        try file.truncate(to: entries.count * Entry.size)
        isPreallocated = false
    }

    /// Drops the first entry matching `isRemoved` and every entry after it (log truncation).
    mutating func removeEntries(from isRemoved: (Entry) -> Bool) throws(StorageError) {
        let keep = entries.firstIndex(where: isRemoved) ?? entries.count
        guard keep < entries.count else { return }
        entries.removeSubrange(keep...)
        // Shrinking drops the old entries' bytes; the next append preallocates zeros again.
        try trim()
    }

    /// The last entry whose key is at or below `key` (binary search), or nil if none is.
    func lastEntry(atOrBelow key: Int64) -> Entry? {
        lastEntry(atOrBelow: key, by: \.orderingKey)
    }

    /// The same search on another field that increases with the entries (a file position).
    func lastEntry(atOrBelow key: Int64, by field: (Entry) -> Int64) -> Entry? {
        var low = 0
        var high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if field(entries[middle]) <= key { low = middle + 1 } else { high = middle }
        }
        return low == 0 ? nil : entries[low - 1]
    }

    func sync() throws(StorageError) { try file.sync() }
}
