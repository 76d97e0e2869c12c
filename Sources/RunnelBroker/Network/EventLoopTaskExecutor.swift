import NIOCore

/// Runs a request's task on its connection's event loop (SE-0417 task executor preference).
///
/// Handlers are `nonisolated async` code that rarely suspends (a produce appends with a pwritev
/// and returns), so hopping to the global concurrent pool and back for every request cost more
/// than the work: two cross-thread wake-ups per request, which at 10,000 small produce requests
/// a second were most of the broker's CPU and of the end-to-end tail latency. With this
/// preference the task starts on the loop that read the frame, and resumes there after a
/// suspension (a waiting fetch, a group-commit fsync).
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
