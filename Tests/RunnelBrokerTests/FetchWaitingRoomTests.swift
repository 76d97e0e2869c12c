import RunnelProtocol
import Testing
@testable import RunnelBroker

/// The fetch waiting room: appends wake the fetches watching their partition, and only those;
/// a wait ends at its timeout or when its task is cancelled; an append between a fetch's look at
/// the logs and its wait is never missed. Waits that should not end use an hour's timeout, so a
/// missed wake-up shows as a test that fails its bounded check, not as a slow pass.
@Suite(.timeLimit(.minutes(1))) struct FetchWaitingRoomTests {
    let a = TopicPartition(topic: "t", partition: 0)
    let b = TopicPartition(topic: "t", partition: 1)
    let hour = Duration.seconds(3600)

    /// Starts a wait on its own task; `done` turns true when it returns.
    func startWaiting(_ room: FetchWaitingRoom, on partitions: Set<TopicPartition>, timeout: Duration, seen: UInt64? = nil)
        -> (Task<Void, Never>, SharedCounter)
    {
        let done = SharedCounter()
        let seen = seen ?? room.appendCount
        let task = Task {
            await room.wait(for: partitions, timeout: timeout, seen: seen)
            done.increment()
        }
        return (task, done)
    }

    @Test func anAppendWakesTheFetchesWatchingItsPartitionOnly() async {
        let room = FetchWaitingRoom()
        let (onA, aDone) = startWaiting(room, on: [a], timeout: hour)
        let (onB, bDone) = startWaiting(room, on: [b], timeout: hour)
        #expect(await eventually { room.waitingFetches == 2 })
        room.notifyAppend(to: a)
        await onA.value
        #expect(aDone.value == 1)
        #expect(bDone.value == 0, "an append to another partition must not wake it")
        #expect(room.waitingFetches == 1)
        room.notifyAppend(to: b)
        await onB.value
        #expect(room.waitingFetches == 0)
    }

    @Test func aWaitEndsAtItsTimeoutWithoutAnyAppend() async {
        let room = FetchWaitingRoom()
        await room.wait(for: [a], timeout: .milliseconds(20), seen: room.appendCount)
        #expect(room.waitingFetches == 0, "the timed-out waiter is gone")
        // A zero or negative timeout does not wait at all.
        await room.wait(for: [a], timeout: .zero, seen: room.appendCount)
        await room.wait(for: [a], timeout: .milliseconds(-5), seen: room.appendCount)
    }

    @Test func anAppendBeforeTheWaitIsNotMissed() async {
        let room = FetchWaitingRoom()
        // The fetch reads the count, looks at the logs (finding nothing), and an append lands
        // before it starts waiting: the wait must return at once, not sleep for an hour.
        let seen = room.appendCount
        room.notifyAppend(to: a)
        let (task, done) = startWaiting(room, on: [a], timeout: hour, seen: seen)
        #expect(await eventually { done.value == 1 })
        task.cancel()
        #expect(room.waitingFetches == 0)
    }

    @Test func manyRacingAppendsAndWaitsNeverLoseAWakeUp() async {
        let room = FetchWaitingRoom()
        // Each round races one append against one wait that read the count before it; whichever
        // wins, the wait must end (by the append, not the hour-long timeout).
        for _ in 0..<300 {
            let seen = room.appendCount
            let (task, done) = startWaiting(room, on: [a], timeout: hour, seen: seen)
            room.notifyAppend(to: a)
            #expect(await eventually { done.value == 1 })
            task.cancel()
        }
        #expect(room.waitingFetches == 0)
    }

    @Test func cancellingTheTaskEndsItsWait() async {
        let room = FetchWaitingRoom()
        let (task, done) = startWaiting(room, on: [a], timeout: hour)
        #expect(await eventually { room.waitingFetches == 1 })
        task.cancel()
        #expect(await eventually { done.value == 1 })
        #expect(room.waitingFetches == 0)
        // Cancelled before it starts to wait: it does not wait at all.
        let cancelledFirst = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            await room.wait(for: [a], timeout: hour, seen: room.appendCount)
        }
        await cancelledFirst.value
        #expect(room.waitingFetches == 0)
    }

    @Test func wakeAllAnswersEveryWaitingFetch() async {
        let room = FetchWaitingRoom()
        let waits = (0..<5).map { _ in startWaiting(room, on: [a, b], timeout: hour) }
        #expect(await eventually { room.waitingFetches == 5 })
        room.wakeAll()
        for (task, _) in waits { await task.value }
        #expect(room.waitingFetches == 0)
    }
}
