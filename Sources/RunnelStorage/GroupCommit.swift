import Dispatch
import Synchronization

/// Group commit for fsync-before-acknowledge: callers wait until their offset is durable, and
/// every append that arrives while an fsync runs is covered by the next one, so N concurrent
/// producers cost about one fsync per round instead of N.
final class GroupCommit: Sendable {
    private struct Waiter {
        var offset: Int64
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var durableOffset: Int64
        var syncing = false
        var waiters: [Waiter] = []
        /// +1 at every truncation: an fsync round that began before one may report an offset
        /// of the log as it was, which must not count as durable now.
        var truncations = 0
    }

    private let state: Mutex<State>
    private let queue: DispatchQueue

    init(durableOffset: Int64, label: String) {
        state = Mutex(State(durableOffset: durableOffset))
        queue = DispatchQueue(label: "runnel.group-commit.\(label)")
    }

    var durableOffset: Int64 { state.withLock { $0.durableOffset } }

    /// Returns once every offset below `offset` is durable. `sync` makes everything appended so
    /// far durable and returns the offset it covered; it runs on this group's queue.
    func waitUntilDurable(_ offset: Int64, sync: @escaping @Sendable () throws -> Int64) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let start: Bool = state.withLock { state in
                if state.durableOffset >= offset {
                    continuation.resume()
                    return false
                }
                state.waiters.append(Waiter(offset: offset, continuation: continuation))
                guard !state.syncing else { return false }
                state.syncing = true
                return true
            }
            if start { queue.async { self.runRounds(sync) } }
        }
    }

    /// Runs other fsync work of the partition (a `flush.messages` flush, a roll's producer
    /// snapshot) on this group's queue: off the appender's thread, which is an event loop, and
    /// in order with the group commits.
    func enqueue(_ work: @escaping @Sendable () -> Void) {
        queue.async(execute: work)
    }

    /// Returns once everything enqueued so far has run (close waits for it).
    func drain() {
        queue.sync {}
    }

    /// The log was cut at `offset`: what is appended there from now on is not durable, whatever
    /// was fsynced at those offsets before.
    func truncate(to offset: Int64) {
        state.withLock { state in
            state.durableOffset = min(state.durableOffset, offset)
            state.truncations += 1
        }
    }

    /// Lets the durable offset advance after an fsync someone else ran (a flush policy).
    func markDurable(_ offset: Int64) {
        let ready = state.withLock { state in
            state.durableOffset = max(state.durableOffset, offset)
            return takeReady(&state)
        }
        ready.forEach { $0.continuation.resume() }
    }

    private func runRounds(_ sync: @Sendable () throws -> Int64) {
        while true {
            let truncationsBefore = state.withLock { $0.truncations }
            let outcome = Result { try sync() }
            let (ready, failed, again): ([Waiter], [Waiter], Bool) = state.withLock { state in
                switch outcome {
                case .success(let offset):
                    // A truncation during the fsync: the next round decides.
                    if state.truncations == truncationsBefore { state.durableOffset = max(state.durableOffset, offset) }
                    let ready = takeReady(&state)
                    state.syncing = !state.waiters.isEmpty
                    return (ready, [], state.syncing)
                case .failure:
                    // A failed fsync leaves nothing known durable: fail everyone waiting.
                    let failed = state.waiters
                    state.waiters = []
                    state.syncing = false
                    return ([], failed, false)
                }
            }
            ready.forEach { $0.continuation.resume() }
            if case .failure(let error) = outcome { failed.forEach { $0.continuation.resume(throwing: error) } }
            if !again { return }
        }
    }

    private func takeReady(_ state: inout State) -> [Waiter] {
        let durable = state.durableOffset
        let ready = state.waiters.filter { $0.offset <= durable }
        state.waiters.removeAll { $0.offset <= durable }
        return ready
    }
}
