#if canImport(Glibc)
import Glibc
#endif
import RunnelProtocol

/// Who produced a batch, as the leader saw it: the producing client's `client.id` and address
/// and the broker's wall clock at append. What `runnel trace` reports beside the batch's own
/// producer id, epoch and sequence.
public struct BatchOrigin: Sendable, Hashable {
    public var clientId: String
    public var address: String

    public init(clientId: String, address: String) {
        // At most maxStringBytes (a cut character becomes U+FFFD, a few bytes more at most).
        self.clientId = String(decoding: clientId.utf8.prefix(TraceSidecar.maxStringBytes), as: UTF8.self)
        self.address = String(decoding: address.utf8.prefix(TraceSidecar.maxStringBytes), as: UTF8.self)
    }
}

/// A batch's trace: its offsets, CRC and producer fields, with its origin and append time.
public struct BatchTrace: Sendable, Equatable {
    public var baseOffset: Int64
    public var lastOffset: Int64
    public var crc: UInt32
    public var producerId: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
    public var appendTimeMs: Int64
    /// nil when the sidecar ran out of room for client names (`maxClients`).
    public var origin: BatchOrigin?
}

/// The `.trace` file beside a segment's `.log`: one entry per batch appended as leader (its
/// offsets, CRC, producer id, epoch, base sequence, append time and a reference to the
/// producing client), and one definition per distinct client (`client.id`, address).
///
/// It is diagnostic, so it is cheap rather than durable: entries collect in memory and reach
/// the file in writes of `flushBytes` (and when the segment rolls or closes), are never
/// fsynced, and a crash loses the last unwritten ones. It is never wrong either: a lookup
/// answers only with an entry whose offsets and CRC match the batch the log holds now, so
/// entries of batches since truncated, recovered away or rewritten by the log cleaner are
/// ignored. Bounded: an entry is 46 bytes for a batch of at least 61 (a batch header alone),
/// at most `maxClients` client definitions of at most 2 × `maxStringBytes` bytes each, and the
/// file goes with its segment (retention, deletion, a cleaner's swap; the loader removes any
/// whose `.log` is gone).
///
/// Format (big-endian): a record is a type byte then its fields. Type 1, a client: u32
/// reference, u16 length + client id bytes, u16 length + address bytes. Type 2, a batch: i64
/// base offset, i32 last offset delta, u32 CRC, i64 producer id, i16 producer epoch, i32 base
/// sequence, i64 append time (ms), u32 client reference (0: not recorded).
///
/// Concurrency: not thread-safe; its `LogSegment` (hence the partition's lock) owns it. A
/// lookup copies what it needs under that lock and reads the file outside it (`Snapshot`).
final class TraceSidecar {
    static let fileSuffix = ".trace"
    static let maxClients = 1024
    static let maxStringBytes = 255
    static let flushBytes = 16 * 1024
    private static let clientRecord: UInt8 = 1
    private static let batchRecord: UInt8 = 2
    static let batchRecordBytes = 1 + 8 + 4 + 4 + 8 + 2 + 4 + 8 + 4

    let path: String
    private var pending: [UInt8] = []
    private var clients: [BatchOrigin: UInt32] = [:]
    private var descriptor: Int32 = -1
    /// Set when a write failed: tracing stops for this segment (appends never fail for it).
    private var broken = false

    init(path: String) {
        self.path = path
    }

    deinit { if descriptor >= 0 { Glibc.close(descriptor) } }

    /// Records a batch just appended as leader.
    func record(_ header: RecordBatchHeader, origin: BatchOrigin, appendTimeMs: Int64) {
        guard !broken else { return }
        var reference = clients[origin] ?? 0
        if reference == 0, clients.count < Self.maxClients {
            reference = UInt32(clients.count + 1)
            clients[origin] = reference
            pending.append(Self.clientRecord)
            Self.put(reference, into: &pending)
            for text in [origin.clientId, origin.address] {
                Self.put(UInt16(text.utf8.count), into: &pending)
                pending.append(contentsOf: text.utf8)
            }
        }
        pending.append(Self.batchRecord)
        Self.put(header.baseOffset, into: &pending)
        Self.put(header.lastOffsetDelta, into: &pending)
        Self.put(header.crc, into: &pending)
        Self.put(header.producerId, into: &pending)
        Self.put(header.producerEpoch, into: &pending)
        Self.put(header.baseSequence, into: &pending)
        Self.put(appendTimeMs, into: &pending)
        Self.put(reference, into: &pending)
        if pending.count >= Self.flushBytes { writePending() }
    }

    /// Writes what is collected to the file (roll, close, or a full buffer).
    func writePending() {
        guard !pending.isEmpty, !broken else { return }
        if descriptor < 0 {
            descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { return fail() }
        }
        let written = pending.withUnsafeBytes { bytes -> Bool in
            var done = 0
            while done < bytes.count {
                let count = write(descriptor, bytes.baseAddress! + done, bytes.count - done)
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { return false }
                done += count
            }
            return true
        }
        guard written else { return fail() }
        pending.removeAll(keepingCapacity: true)
    }

    /// Closes the descriptor after writing what is collected (the segment closes or goes idle).
    func close() {
        writePending()
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
    }

    private func fail() {
        // A full disk or a missing directory: give up on this segment's trace, keep appending.
        broken = true
        pending = []
    }

    /// What a lookup reads: the file's path and the entries not yet written.
    struct Snapshot: Sendable {
        let path: String
        let pending: [UInt8]
    }

    var snapshot: Snapshot { Snapshot(path: path, pending: pending) }

    /// The last entry covering `offset` whose base offset, last offset and CRC are those of
    /// `batch` (the batch the log holds there now); nil when there is none.
    static func lookup(_ batch: RecordBatchHeader, in snapshot: Snapshot) -> BatchTrace? {
        var bytes: [UInt8] = []
        let descriptor = open(snapshot.path, O_RDONLY | O_CLOEXEC)
        if descriptor >= 0 {
            defer { Glibc.close(descriptor) }
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { break }
                bytes.append(contentsOf: chunk[0..<count])
            }
        }
        bytes.append(contentsOf: snapshot.pending)
        return parse(bytes, matching: batch)
    }

    static func parse(_ bytes: [UInt8], matching batch: RecordBatchHeader) -> BatchTrace? {
        var reader = Reader(bytes: bytes)
        var clients: [UInt32: BatchOrigin] = [:]
        var found: BatchTrace?
        while let type = reader.byte() {
            switch type {
            case clientRecord:
                guard let reference: UInt32 = reader.integer(), let clientId = reader.string(), let address = reader.string() else { return found }
                clients[reference] = BatchOrigin(clientId: clientId, address: address)
            case batchRecord:
                guard let base: Int64 = reader.integer(), let delta: Int32 = reader.integer(), let crc: UInt32 = reader.integer(),
                      let producerId: Int64 = reader.integer(), let epoch: Int16 = reader.integer(), let sequence: Int32 = reader.integer(),
                      let appendTime: Int64 = reader.integer(), let reference: UInt32 = reader.integer()
                else { return found }
                if base == batch.baseOffset, delta == batch.lastOffsetDelta, crc == batch.crc {
                    found = BatchTrace(
                        baseOffset: base, lastOffset: base + Int64(delta), crc: crc, producerId: producerId, producerEpoch: epoch,
                        baseSequence: sequence, appendTimeMs: appendTime, origin: clients[reference])
                }
            default:
                return found  // a torn or foreign tail: what came before stands
            }
        }
        return found
    }

    private static func put<T: FixedWidthInteger>(_ value: T, into bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    private struct Reader {
        let bytes: [UInt8]
        var position = 0

        mutating func byte() -> UInt8? {
            guard position < bytes.count else { return nil }
            defer { position += 1 }
            return bytes[position]
        }

        mutating func integer<T: FixedWidthInteger>() -> T? {
            let size = MemoryLayout<T>.size
            guard position + size <= bytes.count else { return nil }
            var value: T = 0
            for index in position..<position + size { value = value << 8 | T(truncatingIfNeeded: bytes[index]) }
            position += size
            return value
        }

        mutating func string() -> String? {
            guard let length: UInt16 = integer(), position + Int(length) <= bytes.count else { return nil }
            defer { position += Int(length) }
            return String(decoding: bytes[position..<position + Int(length)], as: UTF8.self)
        }
    }
}
