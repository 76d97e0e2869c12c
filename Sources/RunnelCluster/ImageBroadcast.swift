import Synchronization

/// Hands every new metadata image to every subscriber of a store, newest-wins (a slow
/// subscriber gets the latest whole picture, never a backlog).
///
/// Concurrency: subscribers and the latest image sit in one `Mutex`; `publish` yields under it
/// so images reach each subscriber in publish order. A subscriber that goes away is removed
/// by a separate task, never inside the stream's termination handler: that handler runs
/// while the Swift runtime holds the cancelled task's status lock, and a `yield` under our
/// lock takes that same status lock to resume the task — taking our lock there deadlocks.
final class ImageBroadcast: Sendable {
    private struct State {
        var latest: MetadataImage
        var subscribers: [Int: AsyncStream<MetadataImage>.Continuation] = [:]
        var nextId = 0
        var finished = false
    }

    private let state: Mutex<State>

    init(_ initial: MetadataImage) {
        state = Mutex(State(latest: initial))
    }

    var latest: MetadataImage { state.withLock { $0.latest } }

    /// A stream starting with the latest image.
    func subscribe() -> AsyncStream<MetadataImage> {
        let (stream, continuation) = AsyncStream.makeStream(of: MetadataImage.self, bufferingPolicy: .bufferingNewest(1))
        let id: Int? = state.withLock { state in
            guard !state.finished else { return nil }
            defer { state.nextId += 1 }
            state.subscribers[state.nextId] = continuation
            continuation.yield(state.latest)
            return state.nextId
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            Task { self?.remove(id) }
        }
        return stream
    }

    /// Makes `image` the latest and hands it to every subscriber, unless `accept` (called
    /// with the current latest, under the lock) refuses it. Returns whether it was published.
    @discardableResult
    func publish(_ image: MetadataImage, if accept: (MetadataImage) -> Bool = { _ in true }) -> Bool {
        state.withLock { state in
            guard accept(state.latest) else { return false }
            state.latest = image
            for subscriber in state.subscribers.values { subscriber.yield(image) }
            return true
        }
    }

    /// Ends every stream; later subscriptions end at once.
    func finish() {
        let subscribers = state.withLock { state in
            state.finished = true
            defer { state.subscribers = [:] }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.finish() }
    }

    private func remove(_ id: Int) {
        _ = state.withLock { $0.subscribers.removeValue(forKey: id) }
    }
}
