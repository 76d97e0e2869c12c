import NIOCore
import RunnelBench
import RunnelClient

/// One consumer of `runnel bench consume`: polls until the run's record budget is used up, the
/// deadline passes, Ctrl-C, or nothing arrived for `--timeout`. Its latency figure is how long
/// each poll that returned records took — the wait for data plus decoding, which is what an
/// application's consume loop feels (there is no send time to measure against: use `e2e` for
/// that). The first such poll is left out of the percentiles: it holds connecting, the group
/// join and the first ListOffsets, seconds that belong to `startup_sec`, not to steady state.
struct ConsumerWorker: Sendable {
    let consumer: Consumer
    let recorder: LatencyRecorder
    let budget: RecordBudget
    /// `--duration` in nanoseconds, counted from the first record any consumer of the run
    /// received: a group join can take seconds (group.initial.rebalance.delay.ms is 3 s on
    /// Kafka), and those should not eat the measured time.
    let duration: UInt64?
    /// When the run's first record arrived, shared by its consumers.
    let runFirstReceipt: SharedValue<UInt64?>
    /// Nanoseconds without a record after which this consumer stops.
    let inactivity: UInt64
    let stop: StopFlag

    /// Short polls keep the stop conditions responsive; the consumer's fetch is already in
    /// flight between polls, so they cost no throughput.
    static let pollTimeout: TimeAmount = .milliseconds(100)

    /// Returns when this consumer's first records arrived: the measured window starts at the
    /// earliest of these, as kafka-consumer-perf-test's fetch rate leaves out the join.
    func run() async -> UInt64? {
        var firstReceipt: UInt64?
        var lastProgress = BenchClock.now()
        while !stop.isStopped, !budget.isExhausted {
            let pollStart = BenchClock.now()
            if let duration, let first = runFirstReceipt.value, pollStart >= first + duration { break }
            let records: [ConsumerRecord]
            do {
                records = try await consumer.poll(timeout: Self.pollTimeout)
            } catch {
                recorder.recordError(String(describing: error))
                if BenchClock.now() - lastProgress >= inactivity { break }
                try? await Task.sleep(nanoseconds: 100_000_000)
                continue
            }
            let pollEnd = BenchClock.now()
            if records.isEmpty {
                if pollEnd - lastProgress >= inactivity { break }
                continue
            }
            lastProgress = pollEnd
            let counted = Int(budget.claim(UInt64(records.count)))
            guard counted > 0 else { break }  // another consumer took the last of the budget
            var bytes: UInt64 = 0
            for record in records.prefix(counted) { bytes += UInt64(record.value?.readableBytes ?? 0) }
            let latency = firstReceipt == nil ? nil : pollEnd - pollStart
            if firstReceipt == nil {
                firstReceipt = pollEnd
                runFirstReceipt.update { first in if first == nil { first = pollEnd } }
            }
            recorder.record(records: UInt64(counted), bytes: bytes, latencyNanoseconds: latency, at: pollEnd)
        }
        return firstReceipt
    }
}
