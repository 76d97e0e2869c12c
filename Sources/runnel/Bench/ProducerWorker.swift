import NIOCore
import RunnelBench
import RunnelClient

/// Keys as the bytes records carry, made once: a run sends millions of records over at most a
/// few thousand hot keys, so formatting `key-123` per record would be the benchmark measuring
/// itself. Very large key spaces (over 2^20) are formatted on demand instead of held.
struct KeyTable: Sendable {
    static let cachedLimit = 1 << 20
    private let cached: [ByteBuffer]

    init(count: Int) {
        cached = count <= Self.cachedLimit ? (0..<count).map { ByteBuffer(string: KeyChooser.key($0)) } : []
    }

    subscript(index: Int) -> ByteBuffer {
        index < cached.count ? cached[index] : ByteBuffer(string: KeyChooser.key(index))
    }
}

/// How a worker makes record values.
enum ValueMaker: Sendable {
    /// A slice of the payload pool: shares the pool's storage, so making a value allocates nothing.
    case slice
    /// A fresh buffer with an e2e stamp (send time, run id, sequence) before the pool bytes.
    case stamped(runId: UInt64)
}

/// One producer of a run: sends its share of the records (or until the deadline or Ctrl-C),
/// paced by its share of `--throughput`, without waiting for acknowledgements — delivery is
/// reported by the completion callback, which records send()→ack latency, so as many records
/// are in flight as the producer's buffer and `max.in.flight.requests.per.connection` allow, as
/// with kafka-producer-perf-test. A class, not a struct: its send loop would otherwise copy all
/// of these fields once per record (measured: 2% of the client's CPU at 650k records/s).
final class ProducerWorker: Sendable {
    let producer: Producer
    let recorder: LatencyRecorder
    let topic: String
    let recordSize: Int
    /// This worker's share of `--num-records`; nil to run until the deadline.
    let records: UInt64?
    let deadline: UInt64?
    let throttler: Throttler
    let keys: KeyChooser
    let keyTable: KeyTable
    let pool: PayloadPool
    let poolBuffer: ByteBuffer
    let values: ValueMaker
    /// Records sent before this (monotonic ns) are counted without a latency sample: e2e's
    /// warm-up, so that its two curves cover the same records. 0 times everything.
    let latencyFrom: UInt64
    let stop: StopFlag

    init(producer: Producer, recorder: LatencyRecorder, topic: String, recordSize: Int, records: UInt64?, deadline: UInt64?,
         throttler: Throttler, keys: KeyChooser, keyTable: KeyTable, pool: PayloadPool, poolBuffer: ByteBuffer, values: ValueMaker,
         latencyFrom: UInt64, stop: StopFlag) {
        self.producer = producer
        self.recorder = recorder
        self.topic = topic
        self.recordSize = recordSize
        self.records = records
        self.deadline = deadline
        self.throttler = throttler
        self.keys = keys
        self.keyTable = keyTable
        self.pool = pool
        self.poolBuffer = poolBuffer
        self.values = values
        self.latencyFrom = latencyFrom
        self.stop = stop
    }

    /// A send that throws (rather than failing later in the callback) means the producer cannot
    /// send at all — closed, topic gone, record too large — so after this many in a row the
    /// worker gives up instead of spinning through its share at full speed.
    static let maximumConsecutiveSendFailures = 1_000

    /// Sends, then flushes; returns how many records it handed to `send`.
    func run(start: UInt64) async -> UInt64 {
        var keys = self.keys
        var sent: UInt64 = 0
        var consecutiveFailures = 0
        let size = UInt64(recordSize)
        let limit = records ?? .max
        while sent < limit, !stop.isStopped {
            let now = BenchClock.now()
            if let deadline, now >= deadline { break }
            if !throttler.isUnlimited {
                let wait = throttler.delay(afterSending: sent, elapsed: now &- start)
                if wait > 0 {
                    try? await Task.sleep(nanoseconds: wait)
                    continue
                }
            }
            let key = keys.next().map { keyTable[$0] }
            let sendStart = now
            let record = ProducerRecord(topic: topic, key: key, value: value(sequence: sent, sendTime: sendStart))
            let recorder = self.recorder
            let latencyFrom = self.latencyFrom
            do {
                try await producer.send(record) { result in
                    switch result {
                    case .success:
                        let acked = BenchClock.now()
                        recorder.record(bytes: size, latencyNanoseconds: sendStart >= latencyFrom ? acked &- sendStart : nil, at: acked)
                    case .failure(let error):
                        recorder.recordError(String(describing: error))
                    }
                }
                consecutiveFailures = 0
            } catch {
                recorder.recordError(String(describing: error))
                consecutiveFailures += 1
                if consecutiveFailures >= Self.maximumConsecutiveSendFailures {
                    BenchConsole.note("a producer stopped after \(consecutiveFailures) failed sends in a row: \(error)")
                    break
                }
            }
            sent += 1
        }
        await producer.flush()
        return sent
    }

    private func value(sequence: UInt64, sendTime: UInt64) -> ByteBuffer {
        let offset = pool.offset(forRecord: sequence, recordSize: recordSize)
        switch values {
        case .slice:
            return poolBuffer.getSlice(at: offset, length: recordSize) ?? ByteBuffer()
        case .stamped(let runId):
            var buffer = ByteBufferAllocator().buffer(capacity: recordSize)
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: EndToEndStamp.size) { bytes in
                EndToEndStamp(sendTime: sendTime, runId: runId, sequence: sequence).write(to: bytes)
                return EndToEndStamp.size
            }
            if var rest = poolBuffer.getSlice(at: offset, length: recordSize - EndToEndStamp.size) {
                buffer.writeBuffer(&rest)
            }
            return buffer
        }
    }
}

extension ProducerWorker {
    /// `workers` producers sharing `records`, the throughput and the seed: record counts split
    /// as evenly as integers allow, each with its own key stream.
    static func shares(of records: UInt64?, among workers: Int) -> [UInt64?] {
        guard let records else { return Array(repeating: nil, count: workers) }
        let each = records / UInt64(workers)
        let extra = records % UInt64(workers)
        return (0..<workers).map { each + (UInt64($0) < extra ? 1 : 0) }
    }
}
