/// What `runnel bench e2e` writes at the start of every value, big-endian:
///
///     0..<8    send time: nanoseconds of the process's monotonic clock
///              (`DispatchTime.now().uptimeNanoseconds`)
///     8..<16   run id: random per run, so records of other runs (or other tools) on the same
///              topic are recognised and ignored instead of skewing the latency
///     16..<24  sequence number: 0, 1, 2, ... in send order, to count lost and duplicated records
///
/// The producer and the consumer are one process, so the two clock readings are comparable and
/// the difference is the end-to-end latency: client batching and linger, the network both ways,
/// the broker's append and the consumer's fetch wait.
public struct EndToEndStamp: Equatable, Sendable {
    public static let size = 24

    public var sendTime: UInt64
    public var runId: UInt64
    public var sequence: UInt64

    public init(sendTime: UInt64, runId: UInt64, sequence: UInt64) {
        self.sendTime = sendTime
        self.runId = runId
        self.sequence = sequence
    }

    /// Writes the stamp into the first `size` bytes of `bytes`.
    public func write(to bytes: UnsafeMutableRawBufferPointer) {
        precondition(bytes.count >= Self.size)
        bytes.storeBytes(of: sendTime.bigEndian, toByteOffset: 0, as: UInt64.self)
        bytes.storeBytes(of: runId.bigEndian, toByteOffset: 8, as: UInt64.self)
        bytes.storeBytes(of: sequence.bigEndian, toByteOffset: 16, as: UInt64.self)
    }

    /// Reads a stamp; nil when the value is too short to hold one.
    public init?(reading bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= Self.size else { return nil }
        sendTime = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        runId = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        sequence = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
    }
}

/// Which sequence numbers arrived, as a bitset: a few bytes per thousand records, so a long
/// e2e run can count every loss and duplicate exactly.
public struct SequenceTracker: Sendable {
    private var words: [UInt64] = []
    public private(set) var distinct: UInt64 = 0
    public private(set) var duplicates: UInt64 = 0

    public init() {}

    /// Notes `sequence`; false when it had arrived before (a duplicate).
    @discardableResult
    public mutating func observe(_ sequence: UInt64) -> Bool {
        let word = Int(sequence / 64)
        let bit = UInt64(1) << (sequence % 64)
        if word >= words.count { words.append(contentsOf: repeatElement(0, count: max(word + 1 - words.count, words.count))) }
        if words[word] & bit != 0 {
            duplicates += 1
            return false
        }
        words[word] |= bit
        distinct += 1
        return true
    }

    /// How many of the sequence numbers 0..<count never arrived.
    public func missing(below count: UInt64) -> UInt64 {
        var seen: UInt64 = 0
        let fullWords = Int(count / 64)
        for index in 0..<min(fullWords, words.count) { seen += UInt64(words[index].nonzeroBitCount) }
        let rest = count % 64
        if rest > 0, fullWords < words.count {
            seen += UInt64((words[fullWords] & ((UInt64(1) << rest) - 1)).nonzeroBitCount)
        }
        return count - seen
    }
}
