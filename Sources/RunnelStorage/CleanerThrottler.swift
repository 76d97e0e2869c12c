#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Keeps the log cleaners' reads and writes under `log.cleaner.io.max.bytes.per.second`
/// (Kafka's `Throttler`): bytes are counted over windows of at least 300 ms, and a thread that
/// pushed the rate over the limit sleeps until the window's average is back at it. It sleeps
/// holding no lock, on a cleaner thread (never an event loop).
///
/// Shared by every cleaner thread; the counters are behind a mutex.
final class CleanerThrottler: Sendable {
    private struct Window {
        /// May lie ahead of the clock while a thread sleeps off the previous window.
        var start: Int64
        var bytes: Double = 0
    }

    private let bytesPerSecond: Double
    private let window: Mutex<Window>
    private static let checkIntervalNanoseconds: Int64 = 300_000_000

    init(bytesPerSecond: Double, now: Int64 = CleanerThrottler.now()) {
        self.bytesPerSecond = bytesPerSecond
        window = Mutex(Window(start: now))
    }

    var isUnlimited: Bool { bytesPerSecond >= Double.greatestFiniteMagnitude }

    /// Counts `bytes` and sleeps if they put the rate over the limit, in slices of at most
    /// 100 ms so that `shouldStop` (shutdown) ends the sleep.
    func account(_ bytes: Int, shouldStop: () -> Bool = { false }) {
        guard !isUnlimited else { return }
        var left = sleepNeeded(afterAccounting: bytes, now: Self.now())
        while left > 0, !shouldStop() {
            let slice = min(left, 100_000_000)
            var request = timespec(tv_sec: 0, tv_nsec: Int(slice))
            var remaining = timespec()
            while nanosleep(&request, &remaining) != 0, errno == EINTR { request = remaining }
            left -= slice
        }
    }

    /// Counts `bytes` at monotonic time `now` (ns) and returns how long the caller must sleep
    /// for the window's average to come back to the limit (0 inside a window, or under it).
    func sleepNeeded(afterAccounting bytes: Int, now: Int64) -> Int64 {
        guard !isUnlimited else { return 0 }
        return window.withLock { window in
            window.bytes += Double(bytes)
            let elapsed = now - window.start
            guard elapsed >= Self.checkIntervalNanoseconds else { return 0 }
            let needed = Int64(min(window.bytes / bytesPerSecond * 1e9, 3.6e12))
            let sleep = max(0, needed - elapsed)
            // The next window starts once this one's sleep is over.
            window = Window(start: now + sleep)
            return sleep
        }
    }

    static func now() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }
}
