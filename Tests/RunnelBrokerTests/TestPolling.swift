/// Waits until `condition` holds, checking every millisecond for at most `limit`; returns
/// whether it came to hold. For state another task changes: tests bound every wait.
func eventually(within limit: Duration = .seconds(20), _ condition: () async -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    while clock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return await condition()
}

import Synchronization

/// A counter tasks and callbacks share with the test (an `Atomic` cannot be captured or returned).
final class SharedCounter: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .sequentiallyConsistent) }
    func increment() { count.add(1, ordering: .sequentiallyConsistent) }
}
