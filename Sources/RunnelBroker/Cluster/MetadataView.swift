import RunnelCluster
import RunnelProtocol
import Synchronization

/// The metadata image this broker has applied: what every handler reads (synchronously, one
/// consistent picture per read) and what writers wait on to see their own change.
///
/// Ownership: only `MetadataApplier` publishes, after `ReplicaManager` has applied the image,
/// so a handler that sees a partition here finds its log hosted.
final class MetadataView: Sendable {
    private struct State {
        var image: MetadataImage
        var waiters: [(revision: Int64, id: Int, continuation: CheckedContinuation<Bool, Never>)] = []
        var nextWaiter = 0
    }

    private let state: Mutex<State>

    init(_ initial: MetadataImage) {
        state = Mutex(State(image: initial))
    }

    var image: MetadataImage { state.withLock { $0.image } }

    /// The applied image's revision (cheaper than copying the image out).
    var revision: Int64 { state.withLock { $0.image.revision } }

    // Single reads for handlers; a handler that reads twice and needs them to agree takes `image`.
    var clusterId: String { image.clusterId }
    var topics: [TopicMetadata] { image.topics }
    func topic(named name: String) -> TopicMetadata? { image.topic(named: name) }
    func topic(id: KafkaUUID) -> TopicMetadata? { image.topic(id: id) }

    /// Makes `image` the current one and wakes the writers waiting for its revision.
    func publish(_ image: MetadataImage) {
        let ready = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.image = image
            let (due, waiting) = state.waiters.reduce(into: ([CheckedContinuation<Bool, Never>](), [(revision: Int64, id: Int, continuation: CheckedContinuation<Bool, Never>)]())) { split, waiter in
                if waiter.revision <= image.revision { split.0.append(waiter.continuation) } else { split.1.append(waiter) }
            }
            state.waiters = waiting
            return due
        }
        for continuation in ready { continuation.resume(returning: true) }
    }

    /// Waits until an image of at least `revision` is applied; false if `timeout` passed first.
    func waitUntilApplied(_ revision: Int64, timeout: Duration = .seconds(30)) async -> Bool {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            self.resume(waiter: id, with: false)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            let appliedAlready = state.withLock { state in
                if state.image.revision >= revision { return true }
                state.waiters.append((revision, id, continuation))
                return false
            }
            if appliedAlready { continuation.resume(returning: true) }
        }
    }

    /// Resumes one waiter if it is still waiting (the publish or the timer, whichever is first).
    private func resume(waiter id: Int, with result: Bool) {
        let found = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index).continuation
        }
        found?.resume(returning: result)
    }
}
