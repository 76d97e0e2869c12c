#if canImport(Glibc)
import Glibc
#endif

/// Why a storage operation failed. `Code` is a struct so that adding a code breaks no one.
public struct StorageError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A system call failed (disk full, permissions, missing file...).
        public static let io = Code("io")
        /// The requested offset is outside [log start offset, log end offset].
        public static let offsetOutOfRange = Code("offsetOutOfRange")
        /// The log's next offsets would pass Int64.max (only a log whose files were named near
        /// it gets there): refused, never wrapped.
        public static let offsetsExhausted = Code("offsetsExhausted")
        /// A batch is larger than a segment may hold.
        public static let batchTooLarge = Code("batchTooLarge")
        /// A file on disk is not in the format this version writes.
        public static let corruptFile = Code("corruptFile")
        /// The partition or log was already closed or deleted.
        public static let closed = Code("closed")
        /// The log directory holding the partition failed (an fsync did not succeed) and is
        /// offline until a restart: Kafka's KAFKA_STORAGE_ERROR.
        public static let logDirectoryOffline = Code("logDirectoryOffline")
        /// Another process holds the log directory's lock (a second broker on the same data).
        public static let directoryInUse = Code("directoryInUse")
        /// A configuration value is outside what the log accepts.
        public static let invalidConfig = Code("invalidConfig")
        /// A read allowed only from the page cache (`FileReadMode.cachedOnly`) would have had
        /// to wait for the disk; the caller retries on a thread that may block.
        public static let wouldBlock = Code("wouldBlock")
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(code): \(detail)" }

    /// The storage itself failed (a system call, or an offline directory), as opposed to a
    /// request the log refuses: Kafka answers these with KAFKA_STORAGE_ERROR, which clients retry.
    public var isStorageFailure: Bool { code == .io || code == .logDirectoryOffline }

    static func posix(_ call: String, path: String) -> StorageError {
        StorageError(.io, "\(call) \(path): \(String(cString: strerror(errno)))")
    }
}
