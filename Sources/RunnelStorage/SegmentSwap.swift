/// How a log cleaner's output replaces the segments it was made from, and how loading finishes
/// or discards a replacement a crash interrupted (Kafka's `.cleaned`/`.swap` protocol,
/// `LogLoader.removeTempFilesAndCollectSwapFiles`).
///
/// The cleaned copy of segments S1…Sk is written as `<b>.log.cleaned` (b = S1's base offset,
/// with its indexes) and fsynced; renaming `<b>.log.cleaned` to `<b>.log.swap` (then fsyncing
/// the directory) commits it. Later steps move the old files away and rename the swap to the
/// live name. So on disk, at any instant:
/// - a `.cleaned` file is an unfinished copy: deleted, the old segments stay;
/// - a `<b>.log.swap` is a committed copy: it replaces every live segment whose base offset
///   lies in [b, end of the swap's last batch) and is recovered (validated, indexes rebuilt) as
///   it goes live. When the cleaner dropped the group's last records, segments of the group
///   past that end stay as they were: each segment is then either cleaned or not, its offsets
///   never overlap the swap's, and nothing is lost;
/// - index `.swap` files are derived data and are deleted (the indexes are rebuilt).
enum SegmentSwap {
    static let cleanedSuffix = ".cleaned"
    static let swapSuffix = ".swap"

    struct Recovered {
        /// Base offsets of segments that must be loaded with full recovery.
        var forceRecover: Set<Int64> = []
        /// What was done, for the start-up log.
        var notes: [String] = []
    }

    /// Finishes committed swaps and discards unfinished cleaner output in `directory`, before
    /// its segments are loaded. Idempotent: a crash during it is repaired by the next load.
    static func recoverInterrupted(directory: String) throws(StorageError) -> Recovered {
        var recovered = Recovered()
        let names = try FileSystem.listDirectory(directory)
        let liveBases = names.compactMap { name -> Int64? in
            guard name.hasSuffix(".log") else { return nil }
            return LogSegment.baseOffset(fromStem: name.dropLast(4))
        }
        let swaps = names.compactMap { name -> Int64? in
            guard name.hasSuffix(".log" + swapSuffix) else { return nil }
            return LogSegment.baseOffset(fromStem: name.dropLast(4 + swapSuffix.count))
        }.sorted()
        var changed = false
        for swapBase in swaps {
            let stem = directory + "/" + LogSegment.fileName(baseOffset: swapBase, suffix: "")
            let swapPath = stem + ".log" + swapSuffix
            let file = try LogFile(path: swapPath, create: false)
            var end = swapBase
            try SegmentScanner.scan(file, from: 0, to: try file.size(), validate: true) { batch throws(StorageError) in
                guard batch.header.hasValidOffsetRange, batch.header.baseOffset >= end else { return false }
                end = batch.header.lastOffset + 1
                return true
            }
            let replaced = liveBases.filter { $0 >= swapBase && $0 < end }.sorted()
            for base in replaced {
                let old = directory + "/" + LogSegment.fileName(baseOffset: base, suffix: "")
                // The swap's own base is replaced by the rename below, atomically.
                if base != swapBase { try FileSystem.remove(old + ".log") }
                try FileSystem.remove(old + ".index")
                try FileSystem.remove(old + ".timeindex")
                try FileSystem.remove(old + TraceSidecar.fileSuffix)
            }
            try FileSystem.remove(stem + ".index" + swapSuffix)
            try FileSystem.remove(stem + ".timeindex" + swapSuffix)
            try FileSystem.rename(swapPath, to: stem + ".log")
            recovered.forceRecover.insert(swapBase)
            recovered.notes.append(
                "\(directory): completed an interrupted log cleaner swap: offsets \(swapBase)..<\(end) now come from the cleaned segment"
                    + " (replacing the segments at \(replaced.map(String.init).joined(separator: ", ")))")
            changed = true
        }
        for name in try FileSystem.listDirectory(directory) where name.hasSuffix(cleanedSuffix) || name.hasSuffix(swapSuffix) {
            try FileSystem.remove(directory + "/" + name)
            if name.hasSuffix(".log" + cleanedSuffix) {
                recovered.notes.append("\(directory): discarded an unfinished log cleaner output \(name); the segments it came from stay")
            }
            changed = true
        }
        if changed { try FileSystem.syncDirectory(directory) }
        return recovered
    }
}
