/// Paces sends to `--throughput` records per second by sleeping, as Kafka's
/// `ThroughputThrottler` does for kafka-producer-perf-test.
///
/// Like Kafka's, it compares what was sent with what the elapsed time allows and sleeps off the
/// surplus, and it never sleeps less than `minimumSleep`: a sleep costs a timer and a context
/// switch, so at 10,000 records/s sleeping 100 µs per record would measure the scheduler, not
/// the broker. Records therefore leave in small bursts (10 per millisecond at 10,000/s).
/// Unlike Kafka's, which accumulates a sleep deficit, the target is a fixed schedule — record n
/// is due at n / rate seconds — so oversleeping once does not slow the rest of the run, and a
/// stall (a full buffer, a slow broker) is caught up afterwards, keeping the average on target.
///
/// Pure arithmetic over elapsed nanoseconds: the caller owns the clock and the sleeping, so
/// tests check pacing without waiting.
public struct Throttler: Sendable, Equatable {
    /// Kafka's `ThroughputThrottler.MIN_SLEEP_NS` is 2 ms; 1 ms keeps bursts half as long while
    /// still sleeping at most 1,000 times per second.
    public static let defaultMinimumSleep: UInt64 = 1_000_000

    /// Records per second; nil for unlimited (`--throughput -1`).
    public let recordsPerSecond: Double?
    public let minimumSleep: UInt64

    /// `recordsPerSecond` <= 0 means unlimited, as Kafka's -1 does.
    public init(recordsPerSecond: Double, minimumSleep: UInt64 = Throttler.defaultMinimumSleep) {
        self.recordsPerSecond = recordsPerSecond > 0 ? recordsPerSecond : nil
        self.minimumSleep = minimumSleep
    }

    public var isUnlimited: Bool { recordsPerSecond == nil }

    /// When the record following `sent` records is due, in nanoseconds after the start.
    public func dueTime(afterSending sent: UInt64) -> UInt64 {
        guard let rate = recordsPerSecond else { return 0 }
        return UInt64((Double(sent) * 1e9 / rate).rounded(.down))
    }

    /// How long to sleep before sending the next record, `elapsed` nanoseconds after the start
    /// with `sent` records sent so far; 0 means send now.
    public func delay(afterSending sent: UInt64, elapsed: UInt64) -> UInt64 {
        let due = dueTime(afterSending: sent)
        guard due > elapsed, due - elapsed >= minimumSleep else { return 0 }
        return due - elapsed
    }

    /// The rate for one of `workers` clients sharing the target (`--producers N`): each paces
    /// itself to an equal share, so together they send at the target without coordinating.
    public func share(of workers: Int) -> Throttler {
        guard let rate = recordsPerSecond, workers > 1 else { return self }
        return Throttler(recordsPerSecond: rate / Double(workers), minimumSleep: minimumSleep)
    }
}
