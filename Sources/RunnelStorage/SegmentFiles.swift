/// The open files of one segment: its `.log` and both sparse indexes, with the index entries
/// in memory.
///
/// A `LogSegment` holds one while the segment is active or was used recently, and drops it to
/// close the files (see LogSegment). Dropping it closes nothing a reader still uses: each
/// `LogFile` closes its descriptor when its last reference goes, and a `FileSlice` handed to a
/// fetch holds its own reference until sendfile is done.
///
/// Not thread-safe: owned by its segment, used under the owning `PartitionLog`'s mutex.
final class SegmentFiles {
    let log: LogFile
    var offsetIndex: OffsetIndex
    var timeIndex: TimeIndex

    init(log: LogFile, offsetIndex: OffsetIndex, timeIndex: TimeIndex) {
        self.log = log
        self.offsetIndex = offsetIndex
        self.timeIndex = timeIndex
    }

    /// Opens both indexes of the segment at `stem` (file names ending in `suffix`) with their entries, or nil if either file
    /// is not a well-formed index (the caller rebuilds them from the log).
    static func loadIndexes(stem: String, suffix: String, maxIndexBytes: Int) -> (OffsetIndex, TimeIndex)? {
        guard FileSystem.exists(stem + ".index" + suffix), FileSystem.exists(stem + ".timeindex" + suffix),
              let offsets = try? OffsetIndex(path: stem + ".index" + suffix, maxIndexBytes: maxIndexBytes, loadEntries: true),
              let times = try? TimeIndex(path: stem + ".timeindex" + suffix, maxIndexBytes: maxIndexBytes, loadEntries: true)
        else { return nil }
        return (offsets, times)
    }

    /// Empty indexes for the segment at `stem` (their files truncated), to be rebuilt from the log.
    static func emptyIndexes(stem: String, suffix: String, maxIndexBytes: Int) throws(StorageError) -> (OffsetIndex, TimeIndex) {
        (try OffsetIndex(path: stem + ".index" + suffix, maxIndexBytes: maxIndexBytes, loadEntries: false),
         try TimeIndex(path: stem + ".timeindex" + suffix, maxIndexBytes: maxIndexBytes, loadEntries: false))
    }
}
