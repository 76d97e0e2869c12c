import Dispatch
import Foundation
import RunnelBench

/// The monotonic clock every figure of a run is measured with (and the one e2e stamps into
/// values): unaffected by NTP steps, comparable across threads of one process.
enum BenchClock {
    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    static func seconds(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1e9 }
}

/// Prints a progress line to stderr every `--reporting-interval` until cancelled. It is the only
/// reader of the recorders' intervals, so it keeps the running totals itself instead of copying
/// every recorder's whole histogram each second.
enum ProgressTicker {
    static func start(intervalMilliseconds: Int, since start: UInt64, recorders: [LatencyRecorder],
                      prefix: @escaping @Sendable () -> String = { "" }) -> Task<Void, Never>? {
        guard intervalMilliseconds > 0 else { return nil }
        return Task {
            var totalRecords: UInt64 = 0
            var totalErrors: UInt64 = 0
            var last = start
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(intervalMilliseconds) * 1_000_000)
                if Task.isCancelled { return }
                let now = BenchClock.now()
                let interval = LatencyRecorder.Snapshot.merged(recorders.map { $0.takeInterval() })
                totalRecords += interval.records
                totalErrors += interval.errors
                BenchConsole.note(ProgressLine.format(
                    elapsedSeconds: BenchClock.seconds(now - start), totalRecords: totalRecords, totalErrors: totalErrors,
                    interval: interval, intervalSeconds: BenchClock.seconds(now - last), prefix: prefix()))
                last = now
            }
        }
    }
}

/// Ctrl-C ends a run early but still reports it: the first SIGINT sets the stop flag (loops
/// finish the record in hand, producers flush), a second one exits at once.
final class InterruptHandler {
    private let source: any DispatchSourceSignal

    init(stopping flag: StopFlag) {
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler {
            if flag.isStopped { exit(130) }
            flag.stop()
            BenchConsole.note("stopping: finishing in-flight records (Ctrl-C again to quit now)")
        }
        source.resume()
    }

    func remove() {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }
}
