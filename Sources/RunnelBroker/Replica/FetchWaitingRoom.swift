import RunnelStorage
import Synchronization

/// Where long-polling fetches wait (Kafka's delayed-fetch purgatory). A fetch that has less
/// than `min.bytes` waits here; every append wakes the fetches watching its partition at once,
/// so a consumer hears about new data in the time it takes to append, not at `max.wait.ms`.
final class FetchWaitingRoom: Sendable {
    private struct Waiter {
        var partitions: Set<TopicPartition>
        var continuation: CheckedContinuation<Void, Never>
        var timer: Task<Void, Never>?
    }

    private let waiters = Mutex<[Int: Waiter]>([:])
    private let nextId = Atomic<Int>(0)

    /// Waits until one of `partitions` gets an append, or `timeout` passes.
    func wait(for partitions: Set<TopicPartition>, timeout: Duration) async {
        guard timeout > .zero else { return }
        let id = nextId.wrappingAdd(1, ordering: .relaxed).oldValue
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                waiters.withLock { $0[id] = Waiter(partitions: partitions, continuation: continuation) }
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
        let woken = waiters.withLock { waiters in
            waiters.filter { $0.value.partitions.contains(partition) }.map(\.key).compactMap { waiters.removeValue(forKey: $0) }
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
