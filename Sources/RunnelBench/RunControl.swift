import NIOConcurrencyHelpers

/// Tells every loop of a run to finish: set by Ctrl-C, by the deadline of `--duration`, or by
/// the consumer that took the last of `--num-records`. Loops check it between records, so a
/// stop never abandons a record half-sent.
public final class StopFlag: Sendable {
    private let stopped = NIOLockedValueBox(false)

    public init() {}

    public func stop() { stopped.withLockedValue { $0 = true } }

    public var isStopped: Bool { stopped.withLockedValue { $0 } }
}

/// A record count shared by the consumers of one run, so that `--num-records` bounds the run as
/// a whole however the group spread the partitions. A poll that overshoots the limit has only
/// its first records counted: the report then says exactly `--num-records`.
public final class RecordBudget: Sendable {
    public let limit: UInt64?
    private let taken = NIOLockedValueBox<UInt64>(0)

    public init(limit: UInt64?) {
        self.limit = limit
    }

    /// Claims up to `count` records and returns how many of them fit under the limit.
    public func claim(_ count: UInt64) -> UInt64 {
        taken.withLockedValue { taken in
            let granted = limit.map { min(count, $0 - min(taken, $0)) } ?? count
            taken += granted
            return granted
        }
    }

    public var claimed: UInt64 { taken.withLockedValue { $0 } }

    public var isExhausted: Bool {
        guard let limit else { return false }
        return claimed >= limit
    }
}

/// A value one task publishes and others read (e2e: the producer's final count, read by the
/// consumer deciding when it has everything).
public final class SharedValue<Value: Sendable>: Sendable {
    private let box: NIOLockedValueBox<Value>

    public init(_ value: Value) {
        box = NIOLockedValueBox(value)
    }

    public var value: Value {
        get { box.withLockedValue { $0 } }
        set { box.withLockedValue { $0 = newValue } }
    }

    /// Reads and changes the value in one step (e.g. set it only if nobody has yet).
    public func update<Result>(_ body: (inout Value) -> Result) -> Result {
        box.withLockedValue { body(&$0) }
    }
}
