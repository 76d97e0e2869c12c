import Synchronization

/// Kafka's `queued.max.request.bytes`: the request bytes the broker holds at once, across every
/// connection. A connection reserves a frame's size as soon as the frame's size prefix arrives,
/// before buffering the body (RequestFrameDecoder, through its ReadGate), and the reservation
/// ends once the request has been processed (KafkaConnectionHandler), as Kafka's network layer
/// allocates each request from its memory pool and frees it after the request is handled.
///
/// As Kafka's SimpleMemoryPool in non-strict mode, a reservation succeeds while any byte is
/// left, even if it takes the pool below zero: a request larger than what is left is not starved
/// by a stream of smaller ones, and memory stays within the capacity plus one request. A
/// reservation that finds nothing left is refused; its connection stops reading and is called
/// back once bytes are released.
///
/// Thread-safe: connections on every event loop reserve and release. The state is behind a
/// mutex; callbacks run after the lock is dropped, on the releasing thread.
final class RequestMemoryPool: Sendable {
    private struct State {
        var available: Int64
        var waiters: [Int: @Sendable () -> Void] = [:]
        var nextWaiter = 0
    }

    /// nil: unbounded (`queued.max.request.bytes` of 0 or less, Kafka's -1).
    let capacity: Int64?
    private let state: Mutex<State>

    init(capacity: Int64) {
        self.capacity = capacity > 0 ? capacity : nil
        state = Mutex(State(available: max(0, capacity)))
    }

    enum Reservation: Equatable {
        case granted
        /// Refused; `whenAvailable` runs once bytes are released, unless `cancelWait(id)` first.
        case waiting(id: Int)
    }

    /// Reserves `bytes`, or registers `whenAvailable` to be called (once, on any thread) when
    /// bytes are next released.
    func reserve(_ bytes: Int, whenAvailable: @escaping @Sendable () -> Void) -> Reservation {
        guard capacity != nil else { return .granted }
        return state.withLock { state in
            guard state.available > 0 else {
                let id = state.nextWaiter
                state.nextWaiter += 1
                state.waiters[id] = whenAvailable
                return .waiting(id: id)
            }
            state.available -= Int64(bytes)
            return .granted
        }
    }

    /// Gives back a reservation; calls every waiter if that leaves bytes available.
    func release(_ bytes: Int) {
        guard capacity != nil, bytes > 0 else { return }
        let woken = state.withLock { state -> [@Sendable () -> Void] in
            state.available += Int64(bytes)
            guard state.available > 0, !state.waiters.isEmpty else { return [] }
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in woken { waiter() }
    }

    /// Forgets a waiter (its connection closed).
    func cancelWait(_ id: Int) {
        _ = state.withLock { $0.waiters.removeValue(forKey: id) }
    }

    /// Bytes left to reserve (negative after an overdraft); the capacity's worth when unbounded.
    var availableBytes: Int64 { state.withLock { $0.available } }
    var waiterCount: Int { state.withLock { $0.waiters.count } }
}
