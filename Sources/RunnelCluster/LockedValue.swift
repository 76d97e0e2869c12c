import Synchronization

/// A value shared between tasks behind a lock: a reference, so escaping closures can share it
/// (a `Mutex` itself cannot be captured by them).
final class LockedValue<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    var value: Value {
        get { mutex.withLock { $0 } }
        set { mutex.withLock { $0 = newValue } }
    }
}
