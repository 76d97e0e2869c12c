import RunnelBench
import Testing

@Suite struct ThrottlerTests {
    @Test func unlimitedNeverWaits() {
        let throttler = Throttler(recordsPerSecond: -1)
        #expect(throttler.isUnlimited)
        #expect(throttler.delay(afterSending: 1_000_000, elapsed: 0) == 0)
    }

    @Test func waitsUntilTheRecordIsDue() {
        let throttler = Throttler(recordsPerSecond: 1_000)  // one record per millisecond
        #expect(throttler.dueTime(afterSending: 10) == 10_000_000)
        #expect(throttler.delay(afterSending: 10, elapsed: 0) == 10_000_000)
        #expect(throttler.delay(afterSending: 10, elapsed: 8_000_000) == 2_000_000)
        // Less than the minimum sleep ahead: send now rather than sleep 0.5 ms.
        #expect(throttler.delay(afterSending: 10, elapsed: 9_500_000) == 0)
        // Behind schedule: no sleep until the run has caught up.
        #expect(throttler.delay(afterSending: 10, elapsed: 50_000_000) == 0)
    }

    @Test func sharesSplitTheRate() {
        let shared = Throttler(recordsPerSecond: 10_000).share(of: 4)
        #expect(shared.recordsPerSecond == 2_500)
        #expect(Throttler(recordsPerSecond: -1).share(of: 4).isUnlimited)
    }

    /// Drives the throttler with a simulated clock: sends cost nothing and sleeps last exactly
    /// as long as asked. The run must take N / rate seconds, give or take one minimum sleep, and
    /// sleep in bursts, not once per record.
    @Test(arguments: [100.0, 10_000, 250_000])
    func pacesASimulatedRun(rate: Double) {
        let throttler = Throttler(recordsPerSecond: rate)
        let records: UInt64 = 50_000
        var clock: UInt64 = 0
        var sent: UInt64 = 0
        var sleeps = 0
        while sent < records {
            let wait = throttler.delay(afterSending: sent, elapsed: clock)
            if wait > 0 {
                #expect(wait >= throttler.minimumSleep)
                clock += wait
                sleeps += 1
                continue
            }
            sent += 1
        }
        let expected = Double(records - 1) / rate * 1e9
        #expect(abs(Double(clock) - expected) <= Double(throttler.minimumSleep))
        #expect(Double(sleeps) <= expected / Double(throttler.minimumSleep) + 1)
    }

    /// A stall (the producer's buffer was full for 100 ms) is caught up: no sleeping until the
    /// schedule is reached again, so the average rate holds.
    @Test func catchesUpAfterAStall() {
        let throttler = Throttler(recordsPerSecond: 1_000)
        var clock: UInt64 = 100_000_000
        var sent: UInt64 = 1
        var burst = 0
        while throttler.delay(afterSending: sent, elapsed: clock) == 0 {
            sent += 1
            burst += 1
            clock += 10_000  // 10 µs per send
        }
        #expect(burst > 90 && burst < 110)
    }
}
