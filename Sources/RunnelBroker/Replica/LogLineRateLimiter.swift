import RunnelStorage
import Synchronization

/// Lets one log line per key through per interval and counts the ones it held back.
///
/// A full disk fails every append: one line per failed append buried the log in 13,500 copies
/// of the same message. One line per partition per interval, carrying how many were held back,
/// says the same and keeps the log readable.
///
/// Thread-safe: a mutex holds the per-key entries. At most `maxKeys` keys are remembered (keys
/// that clients choose, such as group ids, must not grow it without bound): past that, keys
/// whose interval has run out are forgotten, and if none has, all are.
final class LogLineRateLimiter: Sendable {
    private struct Entry {
        var lastLoggedAt: Int64
        var heldBack: Int
    }

    let intervalMilliseconds: Int64
    let maxKeys: Int
    private let clock: @Sendable () -> Int64
    private let entries = Mutex<[String: Entry]>([:])

    init(
        intervalMilliseconds: Int64, maxKeys: Int = 10_000, clock: @escaping @Sendable () -> Int64 = PartitionLog.wallClockMilliseconds
    ) {
        self.intervalMilliseconds = intervalMilliseconds
        self.maxKeys = maxKeys
        self.clock = clock
    }

    /// Whether a line for `key` may be logged now: nil to hold it back, else how many lines
    /// for `key` were held back since the last one let through (to append to this one).
    func admit(_ key: String) -> Int? {
        let now = clock()
        return entries.withLock { entries in
            if var entry = entries[key], now - entry.lastLoggedAt < intervalMilliseconds {
                entry.heldBack += 1
                entries[key] = entry
                return nil
            }
            let heldBack = entries[key]?.heldBack ?? 0
            if entries[key] == nil, entries.count >= maxKeys {
                entries = entries.filter { now - $0.value.lastLoggedAt < intervalMilliseconds }
                if entries.count >= maxKeys { entries.removeAll() }
            }
            entries[key] = Entry(lastLoggedAt: now, heldBack: 0)
            return heldBack
        }
    }
}
