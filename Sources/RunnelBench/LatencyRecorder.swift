import Histogram
import NIOConcurrencyHelpers

/// The histogram shape every benchmark latency uses: microseconds, 3 significant digits (so a
/// value is off by at most 0.1%), up to one hour. A fixed range keeps histograms mergeable
/// (`add` needs equal layouts) and recording allocation-free on the delivery path.
public enum LatencyHistogram {
    public static let highestTrackableMicroseconds: UInt64 = 3_600_000_000

    public static func make() -> Histogram<UInt64> {
        Histogram(lowestDiscernibleValue: 1, highestTrackableValue: highestTrackableMicroseconds, numberOfSignificantValueDigits: .three)
    }

    /// Nanoseconds to the nearest microsecond, clamped to the histogram's range so that one
    /// absurd value (a suspended laptop) is recorded as the maximum instead of dropped.
    public static func microseconds(fromNanoseconds nanoseconds: UInt64) -> UInt64 {
        min((nanoseconds + 500) / 1_000, highestTrackableMicroseconds)
    }
}

/// Counts, bytes, errors and a latency histogram for one client of a run, recorded from
/// whichever thread reports them (the producer's delivery callbacks run on its event loop) and
/// read once a second by the progress line. Each producer or consumer has its own recorder, so
/// clients never contend for a lock; the run merges them at each report.
///
/// It keeps two histograms: everything since the start (the final report) and the current
/// interval (the progress line, which is more useful showing the last second than an average
/// that stops moving after a minute).
public final class LatencyRecorder: Sendable {
    public struct Snapshot: Sendable {
        public var records: UInt64 = 0
        public var bytes: UInt64 = 0
        public var errors: UInt64 = 0
        /// Microseconds.
        public var histogram = LatencyHistogram.make()
        /// When the first and the last record were recorded (the caller's clock, nanoseconds).
        public var firstAt: UInt64?
        public var lastAt: UInt64?

        public init() {}

        public mutating func add(_ other: Snapshot) {
            records += other.records
            bytes += other.bytes
            errors += other.errors
            histogram.add(other.histogram)
            if let first = other.firstAt { firstAt = min(firstAt ?? first, first) }
            if let last = other.lastAt { lastAt = max(lastAt ?? last, last) }
        }

        public static func merged(_ snapshots: [Snapshot]) -> Snapshot {
            var merged = Snapshot()
            for snapshot in snapshots { merged.add(snapshot) }
            return merged
        }
    }

    /// How many distinct error messages are kept word for word; more are counted as "other".
    public static let maximumErrorSamples = 5

    private struct State {
        var total = Snapshot()
        var interval = Snapshot()
        var errorSamples: [String: UInt64] = [:]
        var errorOrder: [String] = []
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// `records` records of `bytes` payload bytes arrived or were acknowledged at `now`; a nil
    /// latency counts them without a latency sample (the warm-up of an e2e run).
    public func record(records: UInt64 = 1, bytes: UInt64, latencyNanoseconds: UInt64?, at now: UInt64) {
        let micros = latencyNanoseconds.map(LatencyHistogram.microseconds(fromNanoseconds:))
        state.withLockedValue { state in
            Self.apply(to: &state.total, records: records, bytes: bytes, micros: micros, at: now)
            Self.apply(to: &state.interval, records: records, bytes: bytes, micros: micros, at: now)
        }
    }

    private static func apply(to snapshot: inout Snapshot, records: UInt64, bytes: UInt64, micros: UInt64?, at now: UInt64) {
        snapshot.records += records
        snapshot.bytes += bytes
        if let micros { snapshot.histogram.record(micros) }
        if snapshot.firstAt == nil { snapshot.firstAt = now }
        snapshot.lastAt = now
    }

    /// A failed delivery (or poll): counted, and its message kept for the report.
    public func recordError(_ message: String, count: UInt64 = 1) {
        state.withLockedValue { state in
            state.total.errors += count
            state.interval.errors += count
            let key = state.errorSamples[message] != nil || state.errorOrder.count < Self.maximumErrorSamples ? message : "other errors"
            if state.errorSamples[key] == nil { state.errorOrder.append(key) }
            state.errorSamples[key, default: 0] += count
        }
    }

    /// What was recorded since the last call (or the start), and a fresh interval.
    public func takeInterval() -> Snapshot {
        // The fresh histogram is allocated outside the lock; delivery callbacks wait only for a swap.
        var fresh = Snapshot()
        state.withLockedValue { swap(&$0.interval, &fresh) }
        return fresh
    }

    /// Records since the start, without copying the histogram.
    public var recordCount: UInt64 {
        state.withLockedValue { $0.total.records }
    }

    /// Everything since the start.
    public func total() -> Snapshot {
        state.withLockedValue { $0.total }
    }

    /// Error messages with their counts, in the order they first happened.
    public func errorSamples() -> [(message: String, count: UInt64)] {
        state.withLockedValue { state in state.errorOrder.map { ($0, state.errorSamples[$0] ?? 0) } }
    }

    /// The error samples of several recorders, summed by message, first seen first.
    public static func errorSamples(of recorders: [LatencyRecorder]) -> [(message: String, count: UInt64)] {
        var order: [String] = []
        var counts: [String: UInt64] = [:]
        for recorder in recorders {
            for (message, count) in recorder.errorSamples() {
                if counts[message] == nil { order.append(message) }
                counts[message, default: 0] += count
            }
        }
        return order.map { ($0, counts[$0] ?? 0) }
    }
}
