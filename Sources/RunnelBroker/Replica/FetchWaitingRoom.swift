import RunnelProtocol
import RunnelStorage
import Synchronization

/// Where long-polling fetches wait (Kafka's delayed-fetch purgatory). A fetch that has less
/// than `min.bytes` waits here; every append wakes the fetches watching its partition at once,
/// so a consumer hears about new data in the time it takes to append, not at `max.wait.ms`.
/// A waiting fetch whose task is cancelled (its connection closed) leaves at once.
///
/// Thread-safe: fetches on every event loop wait and appends notify; waiters are behind a
/// mutex and resumed after it is dropped.
final class FetchWaitingRoom: Sendable {
    private struct Waiter {
        var partitions: Set<TopicPartition>
        var continuation: CheckedContinuation<Void, Never>
        var timer: Task<Void, Never>?
    }

    private let waiters = Mutex<[Int: Waiter]>([:])
    private let nextId = Atomic<Int>(0)
    /// Counts appends. A fetch reads it before looking at the logs and waits only if no append
    /// came since: an append between its read and its wait would otherwise go unnoticed.
    private let appends = Atomic<UInt64>(0)

    var appendCount: UInt64 { appends.load(ordering: .sequentiallyConsistent) }

    /// Fetches waiting now (tests watch it to know a fetch has started or stopped waiting).
    var waitingFetches: Int { waiters.withLock { $0.count } }

    /// Waits until one of `partitions` gets an append, or `timeout` passes; returns at once if
    /// any append happened since `appendCount` was `seen`.
    func wait(for partitions: Set<TopicPartition>, timeout: Duration, seen: UInt64) async {
        guard timeout > .zero else { return }
        let id = nextId.wrappingAdd(1, ordering: .relaxed).oldValue
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let registered = waiters.withLock { waiters in
                    guard appends.load(ordering: .sequentiallyConsistent) == seen else { return false }
                    waiters[id] = Waiter(partitions: partitions, continuation: continuation)
                    return true
                }
                guard registered else { return continuation.resume() }
                if Task.isCancelled { return wake(id) }
                let timer = Task {
                    try? await Task.sleep(for: timeout)
                    self.wake(id)
                }
                let stillWaiting = waiters.withLock { waiters in
                    guard waiters[id] != nil else { return false }
                    waiters[id]?.timer = timer
                    return true
                }
                if !stillWaiting { timer.cancel() }
            }
        } onCancel: {
            wake(id)
        }
    }

    /// Wakes every fetch waiting on `partition`.
    func notifyAppend(to partition: TopicPartition) {
        appends.wrappingAdd(1, ordering: .sequentiallyConsistent)
        let woken = waiters.withLock { waiters in
            guard !waiters.isEmpty else { return [Waiter]() }
            let ids = waiters.filter { $0.value.partitions.contains(partition) }.map(\.key)
            return ids.compactMap { waiters.removeValue(forKey: $0) }
        }
        for waiter in woken {
            waiter.timer?.cancel()
            waiter.continuation.resume()
        }
    }

    /// Answers every waiting fetch now (shutdown).
    func wakeAll() {
        let woken = waiters.withLock { waiters in
            defer { waiters.removeAll() }
            return Array(waiters.values)
        }
        for waiter in woken {
            waiter.timer?.cancel()
            waiter.continuation.resume()
        }
    }

    private func wake(_ id: Int) {
        guard let waiter = waiters.withLock({ $0.removeValue(forKey: id) }) else { return }
        waiter.timer?.cancel()
        waiter.continuation.resume()
    }
}
