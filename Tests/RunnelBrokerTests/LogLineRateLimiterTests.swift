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

    /// Keys clients choose (group ids) cannot grow the map without bound: past `maxKeys`,
    /// keys whose interval ran out are forgotten first, then all.
    @Test func theKeysRememberedAreBounded() {
        let now = Atomic<Int64>(1_000_000)
        let limiter = LogLineRateLimiter(intervalMilliseconds: 10_000, maxKeys: 3, clock: { now.load(ordering: .relaxed) })
        for key in ["a", "b", "c"] { #expect(limiter.admit(key) == 0) }
        #expect(limiter.admit("a") == nil, "still remembered")
        // A fourth key with none expired: everything is forgotten, so "a" is let through again.
        #expect(limiter.admit("d") == 0)
        #expect(limiter.admit("a") == 0)
        now.add(10_000, ordering: .relaxed)
        #expect(limiter.admit("e") == 0)
        #expect(limiter.admit("e") == nil)
        #expect(limiter.admit("f") == 0, "expired keys were dropped to make room")
        #expect(limiter.admit("e") == nil, "the live key stayed")
    }
}
