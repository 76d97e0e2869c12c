/// The `<offset>.snapshot` files of a partition: producer state as of that offset.
enum ProducerSnapshots {
    static let suffix = ".snapshot"
    /// Older snapshots are deleted beyond this many.
    static let kept = 2

    static func offsets(in directory: String) throws(StorageError) -> [Int64] {
        try FileSystem.listDirectory(directory).compactMap { name in
            name.hasSuffix(suffix) ? Int64(name.dropLast(suffix.count)) : nil
        }.sorted()
    }

    static func path(directory: String, offset: Int64) -> String {
        directory + "/" + LogSegment.fileName(baseOffset: offset, suffix: suffix)
    }

    static func write(_ state: ProducerState, at offset: Int64, directory: String) throws(StorageError) {
        try FileSystem.writeAtomically(state.serialized(), to: path(directory: directory, offset: offset))
        for old in try offsets(in: directory).dropLast(kept) { try FileSystem.remove(path(directory: directory, offset: old)) }
    }

    /// Rebuilds the state as of `logEndOffset`: the newest readable snapshot at or below it,
    /// then every batch after it. Snapshots above the log end (after a truncation) are deleted.
    static func rebuild(
        directory: String, segments: [LogSegment], logStartOffset: Int64, logEndOffset: Int64
    ) throws(StorageError) -> ProducerState {
        var state = ProducerState()
        var from = logStartOffset
        for offset in try offsets(in: directory).reversed() {
            let file = path(directory: directory, offset: offset)
            guard offset <= logEndOffset else {
                try FileSystem.remove(file)
                continue
            }
            if let text = try? FileSystem.readText(file), let loaded = try? ProducerState(serialized: text) {
                state = loaded
                from = max(offset, logStartOffset)
                break
            }
        }
        guard from < logEndOffset else { return state }
        let first = PartitionLog.segmentIndex(holding: from, in: segments)
        for segment in segments[first...] {
            try segment.visitBatches(from: from) { header in
                state.update(header)
            }
        }
        return state
    }
}
