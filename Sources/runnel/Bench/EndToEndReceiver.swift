import NIOCore
import RunnelBench
import RunnelClient

/// What the e2e producer tells the receiver: once it has finished (deadline, record count or
/// Ctrl-C, and flushed), how many of its records were acknowledged — the receiver then waits
/// for those and no longer.
typealias EndToEndProducerState = SharedValue<(acked: UInt64, finishedAt: UInt64)?>

/// The consumer half of `runnel bench e2e`: reads every partition from the end it had before
/// producing began, takes the send time out of each value (`EndToEndStamp`) and records
/// receipt − send. Records of other runs are counted as foreign and left out; sequence numbers
/// count losses and duplicates.
struct EndToEndReceiver: Sendable {
    struct Result: Sendable {
        var tracker = SequenceTracker()
        var foreign: UInt64 = 0
        var firstReceipt: UInt64?
    }

    let consumer: Consumer
    /// End-to-end latencies (after the warm-up) and received records.
    let recorder: LatencyRecorder
    let runId: UInt64
    /// Records sent before this (monotonic ns) count as received but not in the percentiles:
    /// the first second holds connection setup and metadata, not the steady state.
    let warmupEnds: UInt64
    let producer: EndToEndProducerState
    /// Nanoseconds without a record, after the producer finished, before giving up on the rest.
    let inactivity: UInt64

    func run() async -> Result {
        var result = Result()
        var lastRecord = BenchClock.now()
        while true {
            let records: [ConsumerRecord]
            do {
                records = try await consumer.poll(timeout: .milliseconds(100))
            } catch {
                recorder.recordError(String(describing: error))
                try? await Task.sleep(nanoseconds: 100_000_000)
                records = []
            }
            let now = BenchClock.now()
            if !records.isEmpty {
                lastRecord = now
                receive(records, at: now, into: &result)
            }
            if let finished = producer.value {
                if result.tracker.distinct >= finished.acked { break }
                if now - max(lastRecord, finished.finishedAt) >= inactivity { break }
            }
        }
        return result
    }

    private func receive(_ records: [ConsumerRecord], at now: UInt64, into result: inout Result) {
        for record in records {
            guard let value = record.value,
                  let stamp = value.withUnsafeReadableBytes({ EndToEndStamp(reading: $0) }),
                  stamp.runId == runId else {
                result.foreign += 1
                continue
            }
            if result.firstReceipt == nil { result.firstReceipt = now }
            guard result.tracker.observe(stamp.sequence) else { continue }  // a duplicate: counted, not timed again
            let latency = stamp.sendTime >= warmupEnds && now >= stamp.sendTime ? now - stamp.sendTime : nil
            recorder.record(bytes: UInt64(value.readableBytes), latencyNanoseconds: latency, at: now)
        }
    }
}
