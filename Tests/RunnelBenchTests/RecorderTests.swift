import RunnelBench
import Testing

@Suite struct LatencyRecorderTests {
    @Test func intervalsResetTotalsDoNot() {
        let recorder = LatencyRecorder()
        recorder.record(bytes: 100, latencyNanoseconds: 1_500_000, at: 10)
        recorder.record(bytes: 100, latencyNanoseconds: 2_500_000, at: 20)
        let first = recorder.takeInterval()
        #expect(first.records == 2)
        #expect(first.bytes == 200)
        #expect(first.histogram.totalCount == 2)
        #expect(first.firstAt == 10 && first.lastAt == 20)
        recorder.record(records: 5, bytes: 50, latencyNanoseconds: nil, at: 30)
        let second = recorder.takeInterval()
        #expect(second.records == 5)
        #expect(second.histogram.totalCount == 0)
        let total = recorder.total()
        #expect(total.records == 7)
        #expect(total.histogram.totalCount == 2)
        #expect(total.firstAt == 10 && total.lastAt == 30)
        #expect(recorder.recordCount == 7)
    }

    @Test func microsecondsRoundAndClamp() {
        #expect(LatencyHistogram.microseconds(fromNanoseconds: 1_499) == 1)
        #expect(LatencyHistogram.microseconds(fromNanoseconds: 1_500) == 2)
        #expect(LatencyHistogram.microseconds(fromNanoseconds: .max / 2) == LatencyHistogram.highestTrackableMicroseconds)
    }

    /// Delivery callbacks arrive on several threads at once.
    @Test func concurrentRecordingLosesNothing() async {
        let recorder = LatencyRecorder()
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for index in 0..<10_000 { recorder.record(bytes: 1, latencyNanoseconds: UInt64(task * 10_000 + index) * 1_000, at: 1) }
                }
            }
        }
        let total = recorder.total()
        #expect(total.records == 80_000)
        #expect(total.histogram.totalCount == 80_000)
    }

    @Test func errorSamplesKeepTheFirstFewMessages() {
        let recorder = LatencyRecorder()
        for index in 0..<10 { recorder.recordError("error \(index % 7)") }
        let samples = recorder.errorSamples()
        #expect(samples.count == LatencyRecorder.maximumErrorSamples + 1)
        #expect(samples.first! == ("error 0", 2))
        #expect(samples.last! == ("other errors", 2))
        #expect(recorder.total().errors == 10)
        let other = LatencyRecorder()
        other.recordError("error 0")
        #expect(LatencyRecorder.errorSamples(of: [recorder, other]).first! == ("error 0", 3))
    }

    @Test func snapshotsMerge() {
        let a = LatencyRecorder(), b = LatencyRecorder()
        a.record(bytes: 10, latencyNanoseconds: 1_000_000, at: 5)
        b.record(bytes: 20, latencyNanoseconds: 9_000_000, at: 3)
        let merged = LatencyRecorder.Snapshot.merged([a.total(), b.total()])
        #expect(merged.records == 2 && merged.bytes == 30)
        #expect(merged.firstAt == 3 && merged.lastAt == 5)
        #expect(merged.histogram.max >= 9_000)
    }
}

@Suite struct RunControlTests {
    @Test func budgetGrantsExactlyTheLimit() {
        let budget = RecordBudget(limit: 100)
        #expect(budget.claim(60) == 60)
        #expect(budget.claim(60) == 40)
        #expect(budget.claim(1) == 0)
        #expect(budget.isExhausted)
        let unlimited = RecordBudget(limit: nil)
        #expect(unlimited.claim(1_000) == 1_000)
        #expect(!unlimited.isExhausted)
    }

    @Test func stopFlagStops() {
        let flag = StopFlag()
        #expect(!flag.isStopped)
        flag.stop()
        #expect(flag.isStopped)
    }
}

@Suite struct EndToEndStampTests {
    @Test func roundTripsBigEndian() {
        let stamp = EndToEndStamp(sendTime: 0x0102_0304_0506_0708, runId: 0xA1A2_A3A4_A5A6_A7A8, sequence: 42)
        var bytes = [UInt8](repeating: 0xFF, count: 30)
        bytes.withUnsafeMutableBytes { stamp.write(to: $0) }
        #expect(Array(bytes[0..<8]) == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(Array(bytes[16..<24]) == [0, 0, 0, 0, 0, 0, 0, 42])
        #expect(bytes[24] == 0xFF, "nothing past the stamp is touched")
        #expect(bytes.withUnsafeBytes { EndToEndStamp(reading: $0) } == stamp)
        // Unaligned reads: the stamp starts wherever the value does in a fetched batch.
        let shifted = [0] + bytes
        #expect(shifted.withUnsafeBytes { EndToEndStamp(reading: UnsafeRawBufferPointer(rebasing: $0[1...])) } == stamp)
        #expect([UInt8](repeating: 0, count: 23).withUnsafeBytes { EndToEndStamp(reading: $0) } == nil)
    }

    @Test func trackerCountsLossesAndDuplicates() {
        var tracker = SequenceTracker()
        for sequence: UInt64 in [0, 1, 2, 5, 130, 1, 64] { tracker.observe(sequence) }
        #expect(tracker.distinct == 6)
        #expect(tracker.duplicates == 1)
        #expect(tracker.missing(below: 3) == 0)
        #expect(tracker.missing(below: 6) == 2)  // 3 and 4
        #expect(tracker.missing(below: 131) == 131 - 6)
        #expect(tracker.missing(below: 1_000) == 1_000 - 6)
    }
}

@Suite struct PayloadPoolTests {
    @Test func kindsLookAsDocumented() {
        let random = PayloadPool(kind: .random, size: 10_000, seed: 1)
        #expect(random.bytes.allSatisfy { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) })
        #expect(Set(random.bytes).count == 26)
        let words = PayloadPool(kind: .words, size: 10_000, seed: 1)
        #expect(words.bytes.count == 10_000)
        #expect(words.bytes.allSatisfy { $0 == UInt8(ascii: " ") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) })
        #expect(PayloadPool(kind: .zeros, size: 100, seed: 1).bytes == [UInt8](repeating: 0, count: 100))
        #expect(PayloadPool(kind: .random, size: 1_000, seed: 5).bytes == PayloadPool(kind: .random, size: 1_000, seed: 5).bytes)
    }

    @Test func offsetsStayInsideAndMove() {
        let pool = PayloadPool(kind: .zeros, size: 4_096, seed: 1)
        var offsets = Set<Int>()
        for record: UInt64 in 0..<1_000 {
            let offset = pool.offset(forRecord: record, recordSize: 1_000)
            #expect(offset >= 0 && offset + 1_000 <= 4_096)
            offsets.insert(offset)
        }
        #expect(offsets.count > 900)
        #expect(pool.offset(forRecord: 7, recordSize: 4_096) == 0)
    }
}
