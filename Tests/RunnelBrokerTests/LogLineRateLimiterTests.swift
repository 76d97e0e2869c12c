import Synchronization
import Testing
@testable import RunnelBroker

@Suite struct LogLineRateLimiterTests {
    /// A disk that fails every append must not log every append: one line per key per
    /// interval, each carrying how many were held back since the previous one.
    @Test func oneLinePerKeyPerIntervalWithTheCountHeldBack() {
        let now = Atomic<Int64>(1_000_000)
        let limiter = LogLineRateLimiter(intervalMilliseconds: 10_000, clock: { now.load(ordering: .relaxed) })
        #expect(limiter.admit("append to a-0") == 0)
        for _ in 0..<13_500 { #expect(limiter.admit("append to a-0") == nil) }
        #expect(limiter.admit("append to b-0") == 0, "keys are limited independently")
        now.add(9_999, ordering: .relaxed)
        #expect(limiter.admit("append to a-0") == nil)
        now.add(1, ordering: .relaxed)
        #expect(limiter.admit("append to a-0") == 13_501, "the next line says how many were held back")
        #expect(limiter.admit("append to a-0") == nil)
        now.add(10_000, ordering: .relaxed)
        #expect(limiter.admit("append to a-0") == 1)
        #expect(limiter.admit("append to b-0") == 0)
    }
}
