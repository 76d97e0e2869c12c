import NIOPosix
import RunnelStorage
import Synchronization

/// The threads on which fetches wait for the disk, so that the event loops never do.
///
/// A fetch reads from the page cache on its event loop (`PartitionLog.read(...offloadingTo:)`);
/// only what is not cached comes here. Kafka does the same work on its request handler threads
/// (`num.io.threads`, default 8) while its network threads only send; the pool has as many
/// threads, which spend their time waiting for the disk, not on a core.
///
/// Thread-safety: the pool starts on its first use (a broker whose data is always cached never
/// starts a thread) under `state`'s lock; `shutdown` stops it, after which reads fail.
final class LogReadPool: BlockingReadExecutor {
    static let threads = 8

    private struct State {
        var pool: NIOThreadPool?
        var isShutDown = false
    }

    private let state = Mutex(State())

    func run<Result: Sendable>(_ work: @escaping @Sendable () throws -> Result) async throws -> Result {
        try await started().runIfActive(work)
    }

    private func started() throws(StorageError) -> NIOThreadPool {
        try state.withLock { state throws(StorageError) in
            if let pool = state.pool { return pool }
            guard !state.isShutDown else { throw StorageError(.closed, "the broker's log read pool is shut down") }
            let created = NIOThreadPool(numberOfThreads: Self.threads)
            created.start()
            state.pool = created
            return created
        }
    }

    /// Stops the threads once the reads they run are done (broker shutdown).
    func shutdown() async throws {
        let running = state.withLock { state in
            state.isShutDown = true
            defer { state.pool = nil }
            return state.pool
        }
        try await running?.shutdownGracefully()
    }
}
