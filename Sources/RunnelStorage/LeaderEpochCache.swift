/// Which leader epoch started at which offset: the `leader-epoch-checkpoint` of a partition.
///
/// Followers use it (OffsetsForLeaderEpoch) to find where their history diverged from a new
/// leader's; it is kept from the first release so that logs written now carry it.
/// File format, as Kafka's: a version line (0), an entry count, then "epoch startOffset" lines.
struct LeaderEpochCache: Sendable, Equatable {
    struct Entry: Sendable, Equatable {
        var epoch: Int32
        var startOffset: Int64
    }

    private(set) var entries: [Entry] = []
    let path: String

    init(path: String) throws(StorageError) {
        self.path = path
        guard FileSystem.exists(path) else { return }
        let text = try FileSystem.readText(path)
        // Every line ends with a newline: a file without one was cut short (perhaps mid-number).
        guard text.hasSuffix("\n") else { throw StorageError(.corruptFile, "\(path): not a leader-epoch checkpoint (cut short)") }
        let lines = text.split(separator: "\n").map { $0.split(separator: " ") }
        guard lines.count >= 2, lines[0] == ["0"], let count = Int(lines[1].first ?? ""), lines.count == count + 2 else {
            throw StorageError(.corruptFile, "\(path): not a leader-epoch checkpoint")
        }
        for line in lines.dropFirst(2) {
            guard line.count == 2, let epoch = Int32(line[0]), let offset = Int64(line[1]) else {
                throw StorageError(.corruptFile, "\(path): bad line \(line.joined(separator: " "))")
            }
            entries.append(Entry(epoch: epoch, startOffset: offset))
        }
    }

    /// An empty cache that will be written to `path`.
    init(emptyAt path: String) {
        self.path = path
    }

    /// Loads the checkpoint or, if it cannot be read (empty, cut short, garbage), rebuilds it
    /// from the leader epochs stamped in the batches of `segments` and writes it back, with a
    /// warning saying so. Kafka resets an unreadable cache and rebuilds it from the log too.
    static func loadOrRebuild(path: String, segments: [LogSegment]) throws(StorageError) -> (LeaderEpochCache, StartupProblem?) {
        do {
            return (try LeaderEpochCache(path: path), nil)
        } catch where error.code == .corruptFile {
            var cache = LeaderEpochCache(emptyAt: path)
            for segment in segments {
                try segment.visitBatches(from: segment.baseOffset) { header in
                    _ = cache.assign(epoch: header.partitionLeaderEpoch, startOffset: header.baseOffset)
                }
            }
            try cache.write()
            return (cache, StartupProblem(
                .warning, "\(error.detail); rebuilt it from the batches' leader epochs (\(cache.entries.count) epochs)"))
        }
    }

    var latestEpoch: Int32? { entries.last?.epoch }

    /// Records that `epoch` starts at `offset`, if it is newer than the latest. Returns whether
    /// the cache changed (and so needs writing).
    mutating func assign(epoch: Int32, startOffset: Int64) -> Bool {
        guard epoch >= 0, epoch > (latestEpoch ?? -1) else { return false }
        entries.append(Entry(epoch: epoch, startOffset: startOffset))
        return true
    }

    /// Forgets epochs that start at or after `offset` (the log was truncated there).
    mutating func truncate(fromEnd offset: Int64) -> Bool {
        let before = entries.count
        entries.removeAll { $0.startOffset >= offset }
        return entries.count != before
    }

    /// Moves the first epoch's start up to a new log start offset, dropping epochs before it.
    mutating func truncate(fromStart offset: Int64) -> Bool {
        guard let index = entries.lastIndex(where: { $0.startOffset <= offset }), entries[index].startOffset < offset || index > 0
        else { return false }
        entries.removeFirst(index)
        entries[0].startOffset = offset
        return true
    }

    /// Kafka's answer to OffsetsForLeaderEpoch (LeaderEpochFileCache.endOffsetFor): for the
    /// latest epoch, the log end; else the largest epoch at or below `epoch` and where the
    /// next epoch starts; for an epoch below the first, that epoch and where the first starts;
    /// nil (UNDEFINED) for epoch -1, an empty cache, or an epoch above the latest.
    func endOffset(of epoch: Int32, logEndOffset: Int64) -> (epoch: Int32, endOffset: Int64)? {
        guard epoch >= 0, let latest = entries.last else { return nil }
        if latest.epoch == epoch { return (epoch, logEndOffset) }
        guard let higher = entries.firstIndex(where: { $0.epoch > epoch }) else { return nil }
        if higher == 0 { return (epoch, entries[0].startOffset) }
        return (entries[higher - 1].epoch, entries[higher].startOffset)
    }

    func write() throws(StorageError) {
        let lines = ["0", String(entries.count)] + entries.map { "\($0.epoch) \($0.startOffset)" }
        try FileSystem.writeAtomically(lines.joined(separator: "\n") + "\n", to: path)
    }
}
