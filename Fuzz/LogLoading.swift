// libFuzzer target `log-loader`: a partition directory with damaged segments, indexes and
// checkpoints, loaded by RunnelStorage after a clean and after an unclean shutdown and then read
// back entirely. Built and run by tools/fuzz.
//
// Input: a sequence of chunks, each one file of the partition directory:
//   kind/slot byte, base offset (int64 big-endian), length (uint16 big-endian), bytes.
// kind = byte & 0x07: 0 `.log`, 1 `.index`, 2 `.timeindex`, 3 `leader-epoch-checkpoint`,
// 4 `.snapshot` (producer state), 5 sets the recovery point to the base offset, 6 the log start
// offset. Files are named by the chunk's base offset (made non-negative), as a segment's are.
// A length past the end of the input takes what remains.
//
// Every input is loaded twice from the same files: after a clean shutdown (indexes trusted) and
// after an unclean one (every segment at or above the recovery point recovered). Beyond "no
// crash, no trap, no sanitizer report": after recovery every batch served from the recovery
// point on (below it the files are trusted as fsynced, as in Kafka) is valid and offsets
// only go forward, and in both cases a batch appended after loading reads back at its offset.

import Foundation
import NIOCore
import RunnelProtocol
import RunnelStorage

/// The files and start-up parameters one input describes.
struct PartitionDirectoryImage {
    var files: [(name: String, bytes: [UInt8])] = []
    var recoveryPoint: Int64 = 0
    var logStartOffset: Int64 = 0

    init(_ input: UnsafeRawBufferPointer) {
        var cursor = input[...]
        while cursor.count >= 11 {
            let tag = cursor.removeFirst()
            var base: Int64 = 0
            for _ in 0..<8 { base = base << 8 | Int64(cursor.removeFirst()) }
            let declared = Int(cursor.removeFirst()) << 8 | Int(cursor.removeFirst())
            let length = min(declared, cursor.count)
            let bytes = Array(cursor.prefix(length))
            cursor = cursor.dropFirst(length)
            let offset = base & Int64.max  // a segment's file name is a non-negative offset
            switch tag & 0x07 {
            case 0: files.append((Self.name(offset, ".log"), bytes))
            case 1: files.append((Self.name(offset, ".index"), bytes))
            case 2: files.append((Self.name(offset, ".timeindex"), bytes))
            case 3: files.append(("leader-epoch-checkpoint", bytes))
            case 4: files.append((Self.name(offset, ".snapshot"), bytes))
            case 5: recoveryPoint = base
            case 6: logStartOffset = base
            default: break
            }
        }
    }

    /// Kafka's segment file name: the offset in 20 digits.
    static func name(_ offset: Int64, _ suffix: String) -> String {
        let digits = String(offset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    func write(to directory: String) {
        for file in files {
            let path = directory + "/" + file.name
            guard FileManager.default.createFile(atPath: path, contents: Data(file.bytes)) else {
                fatalError("cannot write \(path)")
            }
        }
    }
}

/// Small indexes and a short index interval, so that seeds of a few KiB have several entries.
let fuzzLogConfig: LogConfig = {
    var config = LogConfig()
    config.indexIntervalBytes = 256
    config.maxIndexBytes = 64 * 1024
    config.segmentBytes = 64 * 1024
    return config
}()

/// Scratch space on tmpfs when there is one: the target writes and deletes files every run.
let scratchRoot: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    return base + "/runnel-fuzz-log-loader-\(ProcessInfo.processInfo.processIdentifier)"
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func logLoaderFuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let image = PartitionDirectoryImage(UnsafeRawBufferPointer(start: data, count: size))
    for hadCleanShutdown in [true, false] {
        let directory = scratchRoot + "/fuzz-0"
        try? FileManager.default.removeItem(atPath: scratchRoot)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            fatalError("cannot create \(directory): \(error)")
        }
        image.write(to: directory)
        load(directory: directory, image: image, hadCleanShutdown: hadCleanShutdown)
    }
    try? FileManager.default.removeItem(atPath: scratchRoot)
    return 0
}

private func load(directory: String, image: PartitionDirectoryImage, hadCleanShutdown: Bool) {
    let log: PartitionLog
    do {
        log = try PartitionLog(
            directory: directory, topicPartition: TopicPartition(topic: "fuzz", partition: 0), config: fuzzLogConfig,
            recoveryPoint: image.recoveryPoint, logStartOffset: image.logStartOffset, highWatermark: Int64.max,
            hadCleanShutdown: hadCleanShutdown, clock: { 1_700_000_000_000 })
    } catch {
        return  // refusing to load with an error is allowed; trapping is not
    }
    // Recovery validates the segments from the one holding the recovery point on (all of them
    // when the recovery point is past the log end, see LogLoader); below it the files are
    // trusted as fsynced, as in Kafka, and are not checked at start-up.
    let logEnd = log.offsets.logEndOffset
    readEverything(log, validatedFrom: hadCleanShutdown ? nil : (logEnd < image.recoveryPoint ? Int64.min : image.recoveryPoint))
    _ = try? log.offset(forTimestamp: 0)
    _ = try? log.offset(forTimestamp: 1_700_000_000_000)
    _ = try? log.maxTimestampAndOffset()
    appendAndReadBack(log)
    try? log.close()
}

/// Reads from the log start to the log end as a consumer would, batch by batch; every batch a
/// read from `validatedFrom` or above serves must be valid, in order.
private func readEverything(_ log: PartitionLog, validatedFrom: Int64?) {
    var offset = log.offsets.logStartOffset
    var previousLastOffset: Int64?
    for _ in 0..<10_000 {
        let slice: FileSlice?
        let bytes: ByteBuffer
        do {
            slice = try log.read(from: offset, maxBytes: 64 * 1024)
            guard let slice else { return }
            bytes = try slice.readBytes()
        } catch {
            return
        }
        for batchBytes in RecordSet(bytes) {
            // The read's offset, not the batch's own baseOffset (outside the CRC, so damage can
            // make it anything), says which segment the batch came from.
            guard let validatedFrom, offset >= validatedFrom else { continue }
            // Recovery validated every batch it kept, so each one served must be valid, in order.
            let batch: RecordBatch
            do {
                batch = try RecordBatch(validating: batchBytes)
            } catch {
                fatalError("a recovered log serves an invalid batch at offset \(offset): \(error)")
            }
            if let previousLastOffset, batch.header.baseOffset <= previousLastOffset {
                fatalError("a recovered log serves offset \(batch.header.baseOffset) after \(previousLastOffset)")
            }
            previousLastOffset = batch.header.baseOffset &+ Int64(batch.header.lastOffsetDelta)
        }
        guard let next = slice?.nextOffset, next > offset else { return }
        offset = next
    }
}

/// A well-formed batch appended to whatever was loaded must read back at the offset it got.
private func appendAndReadBack(_ log: PartitionLog) {
    var builder = RecordBatchBuilder()
    builder.append(key: [1], value: [2, 3], timestamp: 1_700_000_000_000)
    let appended: PartitionLog.AppendResult
    do {
        appended = try log.append(try RecordBatch(validating: builder.build()), leaderEpoch: 0)
    } catch {
        return  // e.g. offsets exhausted: an error, not a crash
    }
    let bytes: ByteBuffer
    do {
        guard let slice = try log.read(from: appended.baseOffset, maxBytes: 1024) else {
            fatalError("offset \(appended.baseOffset), just appended, reads as the end of the log")
        }
        bytes = try slice.readBytes()
    } catch {
        fatalError("offset \(appended.baseOffset), just appended, does not read back: \(error)")
    }
    guard let first = RecordSet(bytes).first(where: { _ in true }),
          let header = try? RecordBatchHeader(from: first, at: first.readerIndex)
    else { fatalError("offset \(appended.baseOffset), just appended, reads back no batch") }
    guard header.baseOffset <= appended.baseOffset, appended.baseOffset <= header.baseOffset &+ Int64(header.lastOffsetDelta) else {
        fatalError("reading offset \(appended.baseOffset), just appended, starts at a batch of offset \(header.baseOffset)")
    }
}
