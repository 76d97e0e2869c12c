import NIOCore
import Synchronization

/// The `<offset>.snapshot` files of a partition: producer state as of that offset, i.e. the
/// state of the batches in [0, offset).
///
/// A roll writes its snapshot after the partition lock is released (the whole map is written
/// and fsynced, which must not stall appends): `writeTemporary`, then `publish` under the lock
/// once the caller has checked the snapshot still describes the log, then `finishPublishing`.
/// A clean close writes with `write`, all at once.
enum ProducerSnapshots {
    static let suffix = ".snapshot"
    /// Older snapshots are deleted beyond this many.
    static let kept = 2
    /// Makes every temporary name unique: after a truncation and regrowth, two writes for the
    /// same offset may be in flight at once.
    private static let temporaryCounter = Atomic<Int>(0)

    static func offsets(in directory: String) throws(StorageError) -> [Int64] {
        try FileSystem.listDirectory(directory).compactMap { name in
            name.hasSuffix(suffix) ? Int64(name.dropLast(suffix.count)) : nil
        }.sorted()
    }

    static func path(directory: String, offset: Int64) -> String {
        directory + "/" + LogSegment.fileName(baseOffset: offset, suffix: suffix)
    }

    /// Writes `state` as the snapshot at `offset` in one go (temporary file, fsync, rename).
    static func write(_ state: ProducerState, at offset: Int64, directory: String) throws(StorageError) {
        let temporary = try writeTemporary(state, at: offset, directory: directory)
        try publish(temporary, at: offset, directory: directory)
        try finishPublishing(directory: directory)
    }

    /// Writes and fsyncs the snapshot under a temporary name (`.tmp`, which the log loader
    /// deletes if a crash leaves it) and returns that name.
    static func writeTemporary(_ state: ProducerState, at offset: Int64, directory: String) throws(StorageError) -> String {
        let unique = temporaryCounter.add(1, ordering: .relaxed).newValue
        let temporary = path(directory: directory, offset: offset) + ".\(unique).tmp"
        do {
            let file = try LogFile(path: temporary, create: true)
            try file.truncate(to: 0)
            try file.write(ByteBuffer(string: state.serialized()), at: 0)
            try file.sync()
        } catch {
            try? FileSystem.remove(temporary)
            throw error
        }
        return temporary
    }

    /// Renames a written temporary snapshot into place (atomic: readers see all or nothing).
    static func publish(_ temporary: String, at offset: Int64, directory: String) throws(StorageError) {
        try FileSystem.rename(temporary, to: path(directory: directory, offset: offset))
    }

    /// Makes the rename durable and deletes snapshots beyond the newest `kept`.
    static func finishPublishing(directory: String) throws(StorageError) {
        try FileSystem.syncDirectory(directory)
        for old in try offsets(in: directory).dropLast(kept) { try FileSystem.remove(path(directory: directory, offset: old)) }
    }

    /// Rebuilds the state as of `logEndOffset`: the newest readable snapshot at or below it,
    /// then every batch after it. Snapshots above the log end (after a truncation) are deleted.
    /// A snapshot of another layout or damaged is skipped: replaying the log gives the same state.
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

/// A roll's snapshot, taken under the partition lock and written after it is released.
struct PendingProducerSnapshot: Sendable {
    /// The producer state for exactly [0, offset).
    let state: ProducerState
    let offset: Int64
    /// The segment the roll started at `offset`. The snapshot describes the log only while this
    /// segment is in it: a truncation below `offset` removes it (and the state may then differ).
    let segment: LogSegment
}
