import Foundation
import NIOCore
import RunnelProtocol
import Synchronization
import Testing
@testable import RunnelStorage

/// The fetch read path that keeps event loops off the disk: reads from the page cache only
/// (preadv2 RWF_NOWAIT), the fallback on a thread that may block, and the loading of cold
/// record bytes before sendfile. Every variant must serve exactly what the plain read serves.
@Suite struct ColdReadTests {
    /// A `BlockingReadExecutor` that runs work on a thread of its own and counts the calls.
    final class CountingExecutor: BlockingReadExecutor {
        private let calls = Mutex(0)
        private let queue = DispatchQueue(label: "cold-read-tests")
        var count: Int { calls.withLock { $0 } }

        func run<Result: Sendable>(_ work: @escaping @Sendable () throws -> Result) async throws -> Result {
            calls.withLock { $0 += 1 }
            return try await withCheckedThrowingContinuation { continuation in
                queue.async { continuation.resume(with: Swift.Result { try work() }) }
            }
        }
    }

    /// What identifies a served slice.
    struct Served: Equatable {
        var path: String
        var position: Int
        var length: Int
        var firstOffset: Int64
        var nextOffset: Int64

        init?(_ slice: FileSlice?) {
            guard let slice else { return nil }
            path = slice.file.path
            position = slice.position
            length = slice.length
            firstOffset = slice.firstOffset
            nextOffset = slice.nextOffset
        }
    }

    static func makeLog(_ directory: TemporaryDirectory) throws -> (PartitionLog, [TestRecord]) {
        let log = try PartitionLog(
            directory: directory.path + "/events-0", topicPartition: testPartition,
            config: smallSegmentsConfig(segmentBytes: 64 * 1024, indexIntervalBytes: 512), hadCleanShutdown: true)
        let expected = try PartitionLogTests.fill(log, batches: 300, seed: 14)
        #expect(log.segmentCount > 3)
        return (log, expected)
    }

    /// The reads a consumer makes: every few offsets, with budgets from one batch to many
    /// segments' worth, as the first partition of a response and as a later one.
    static let budgets = [1, 700, 4096, 50_000, 1 << 20]

    static func dropFromPageCache(_ directory: String) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) where name.hasSuffix(".log") {
            let descriptor = open(directory + "/" + name, O_RDONLY)
            #expect(descriptor >= 0)
            defer { close(descriptor) }
            // Dirty pages cannot be dropped: write them back first.
            #expect(fdatasync(descriptor) == 0)
            #expect(posix_fadvise(descriptor, 0, 0, Int32(POSIX_FADV_DONTNEED)) == 0)
        }
    }

    /// One page-cache-only read against the plain read: 1 if it was served from the cache (and
    /// matched), 0 if it would have blocked. (A helper, not inline: the nested loops with a
    /// do/catch and expectations inline made the compiler's stack-nesting pass take minutes.)
    static func compareCachedRead(_ log: PartitionLog, offset: Int64, budget: Int, minimumOneBatch: Bool) throws -> Int {
        let blocking: Served? = Served(try log.read(from: offset, maxBytes: budget, minimumOneBatch: minimumOneBatch))
        let attempt = Result { () throws(StorageError) -> FileSlice? in
            try log.read(from: offset, maxBytes: budget, minimumOneBatch: minimumOneBatch, mode: .cachedOnly)
        }
        if case .failure(let error) = attempt {
            // Allowed (the page cache may drop pages), never a different answer.
            guard error.code == .wouldBlock else { throw error }
            return 0
        }
        let cached = try attempt.get()
        let same = Served(cached) == blocking
        #expect(same, "offset \(offset), budget \(budget)")
        return 1
    }

    @Test func pageCacheOnlyReadsServeWhatBlockingReadsServe() throws {
        let directory = TemporaryDirectory()
        let (log, expected) = try Self.makeLog(directory)
        var servedFromCache = 0
        for offset in stride(from: Int64(0), to: Int64(expected.count), by: 5) {
            for budget in Self.budgets {
                servedFromCache += try Self.compareCachedRead(log, offset: offset, budget: budget, minimumOneBatch: true)
                servedFromCache += try Self.compareCachedRead(log, offset: offset, budget: budget, minimumOneBatch: false)
            }
        }
        // The log was just written: its pages are in the page cache.
        #expect(servedFromCache > 0)
        #expect(throws: StorageError.self) { try log.read(from: Int64(expected.count) + 1, maxBytes: 10, mode: .cachedOnly) }
        let atEnd: FileSlice? = try log.read(from: Int64(expected.count), maxBytes: 10, mode: .cachedOnly)
        #expect(atEnd == nil)
    }

    /// The fallback, forced: the read on the executor serves what the plain read serves and
    /// leaves the slice's bytes in the page cache for sendfile.
    @Test func offloadedReadsServeWhatBlockingReadsServe() async throws {
        let directory = TemporaryDirectory()
        let (log, expected) = try Self.makeLog(directory)
        let executor = CountingExecutor()
        var calls = 0
        for offset in stride(from: Int64(0), to: Int64(expected.count), by: 11) {
            for budget in Self.budgets {
                let blocking = try log.read(from: offset, maxBytes: budget)
                let offloaded = try await log.readOffloaded(
                    from: offset, maxBytes: budget, upTo: nil, minimumOneBatch: true, executor: executor)
                calls += 1
                let same = Served(offloaded) == Served(blocking)
                #expect(same, "offset \(offset), budget \(budget)")
                if let offloaded, let blocking {
                    let offloadedBytes: ByteBuffer = try offloaded.readBytes()
                    let blockingBytes: ByteBuffer = try blocking.readBytes()
                    #expect(offloadedBytes == blockingBytes)
                    #expect(offloaded.isInPageCache)
                }
            }
        }
        #expect(executor.count == calls, "every fallback read ran on the executor")
    }

    /// Hot data never leaves the caller's thread; data dropped from the page cache is read on
    /// the executor, and the answer is the same either way.
    @Test func coldReadsGoToTheExecutorHotReadsDoNot() async throws {
        let directory = TemporaryDirectory()
        let (log, expected) = try Self.makeLog(directory)
        let hot = CountingExecutor()
        var reference: [Served?] = []
        for offset in stride(from: Int64(0), to: Int64(expected.count), by: 37) {
            let blocking: Served? = Served(try log.read(from: offset, maxBytes: 4096))
            reference.append(blocking)
            let viaExecutor: FileSlice? = try await log.read(from: offset, maxBytes: 4096, offloadingTo: hot)
            let same = Served(viaExecutor) == blocking
            #expect(same)
        }
        #expect(hot.count == 0, "freshly written data is in the page cache")

        try Self.dropFromPageCache(directory.path + "/events-0")
        let first = try #require(try log.read(from: 0, maxBytes: 1 << 20))
        // A file system that keeps every page in memory (tmpfs) has nothing to drop.
        let canDrop = !first.isInPageCache
        let cold = CountingExecutor()
        var index = 0
        for offset in stride(from: Int64(0), to: Int64(expected.count), by: 37) {
            let served: FileSlice? = try await log.read(from: offset, maxBytes: 4096, offloadingTo: cold)
            let same = Served(served) == reference[index]
            #expect(same, "offset \(offset)")
            if let served { #expect(served.isInPageCache || !canDrop) }
            index += 1
        }
        if canDrop { #expect(cold.count > 0, "reads of dropped pages waited on the executor") }
    }

    @Test func readIfCachedReturnsTheBytesOrNothing() throws {
        let directory = TemporaryDirectory()
        let (log, _) = try Self.makeLog(directory)
        let slice = try #require(try log.read(from: 0, maxBytes: 1 << 20))
        let bytes: ByteBuffer = try slice.readBytes()
        let cachedBytes: ByteBuffer? = try slice.file.readIfCached(at: slice.position, length: slice.length)
        #expect(cachedBytes == bytes)
        // Past the end of the file: the bytes there are, as pread gives them.
        let size = try slice.file.size()
        let tail: ByteBuffer? = try slice.file.readIfCached(at: size - 10, length: 100)
        #expect(tail?.readableBytes == 10)
        try Self.dropFromPageCache(directory.path + "/events-0")
        if !slice.isInPageCache {
            // A page-cache-only read of dropped pages gives nothing or everything, never a prefix
            // or other bytes. Which of the two is the kernel's choice: RWF_NOWAIT still starts
            // readahead, and a fast disk can finish it before the read looks again (seen in CI).
            let dropped: ByteBuffer? = try slice.file.readIfCached(at: slice.position, length: slice.length)
            #expect(dropped == nil || dropped == bytes)
            do {
                let cachedOnly: ByteBuffer = try slice.file.read(at: slice.position, length: slice.length, mode: .cachedOnly)
                #expect(cachedOnly == bytes)
            } catch {
                #expect(error.code == .wouldBlock)
            }
            try slice.loadIntoPageCache()
            #expect(slice.isInPageCache)
        }
        let reread: ByteBuffer = try slice.file.read(at: slice.position, length: slice.length, mode: .cachedOnly)
        #expect(reread == bytes)
    }
}
