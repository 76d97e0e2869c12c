/// Opens a partition's segments at start-up (Kafka's LogLoader).
///
/// After a clean shutdown every segment loads from its indexes with no scan. Otherwise each
/// segment that may hold offsets at or above the recovery point is recovered: every batch is
/// validated, a torn or corrupt tail is truncated, the indexes are rebuilt, and segments after
/// a truncated one are deleted (the log must stay contiguous). A corrupt or missing index is
/// rebuilt from its log in either case.
enum LogLoader {
    struct Loaded {
        var segments: [LogSegment]
        /// Bytes removed by recovery, for the start-up log line.
        var truncatedBytes: Int
        var recoveredSegments: Int
    }

    static func load(
        directory: String, config: LogConfig, recoveryPoint: Int64, logStartOffset: Int64, hadCleanShutdown: Bool
    ) throws(StorageError) -> Loaded {
        try FileSystem.makeDirectory(directory)
        var baseOffsets: [Int64] = []
        for name in try FileSystem.listDirectory(directory) {
            let path = directory + "/" + name
            if name.hasSuffix(".tmp") || name.hasSuffix(".deleted") {
                try FileSystem.remove(path)  // left by an interrupted checkpoint write or deletion
            } else if name.hasSuffix(".log"), let base = Int64(name.dropLast(4)), base >= 0 {
                baseOffsets.append(base)
            }
        }
        // Index files whose log is gone are stale.
        for name in try FileSystem.listDirectory(directory) where name.hasSuffix(".index") || name.hasSuffix(".timeindex") {
            let stem = name.hasSuffix(".index") ? name.dropLast(6) : name.dropLast(10)
            if let base = Int64(stem), !baseOffsets.contains(base) { try FileSystem.remove(directory + "/" + name) }
        }
        baseOffsets.sort()
        if baseOffsets.isEmpty { baseOffsets = [max(0, logStartOffset)] }

        var loaded = Loaded(segments: [], truncatedBytes: 0, recoveredSegments: 0)
        for (index, base) in baseOffsets.enumerated() {
            let nextBase = index + 1 < baseOffsets.count ? baseOffsets[index + 1] : Int64.max
            let recover = !hadCleanShutdown && nextBase > recoveryPoint
            let segment = try LogSegment(directory: directory, baseOffset: base, config: config, recover: recover)
            if recover { loaded.recoveredSegments += 1 }
            loaded.segments.append(segment)
            let torn = segment.truncatedBytesAtRecovery > 0
            loaded.truncatedBytes += segment.truncatedBytesAtRecovery
            // A segment whose offsets overlap the next one's, or whose tail was cut, ends the log.
            if torn || segment.nextOffset > nextBase {
                for later in baseOffsets[(index + 1)...] {
                    try deleteSegmentFiles(directory: directory, baseOffset: later)
                }
                break
            }
        }
        return loaded
    }

    private static func deleteSegmentFiles(directory: String, baseOffset: Int64) throws(StorageError) {
        for suffix in [".log", ".index", ".timeindex"] {
            try FileSystem.remove(directory + "/" + LogSegment.fileName(baseOffset: baseOffset, suffix: suffix))
        }
    }
}
