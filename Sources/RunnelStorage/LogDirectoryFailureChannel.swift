import Synchronization

/// The log directories an fsync failure has taken offline (Kafka's LogDirFailureChannel).
///
/// Why a directory goes offline instead of retrying: after a failed fsync the kernel may have
/// dropped the dirty pages or marked them clean, so a later fsync that succeeds says nothing
/// about the bytes the failed one covered (PostgreSQL's "fsyncgate"). Nothing in the directory
/// can be called durable again until a restart recovers it from what is really on disk, so
/// every partition in it refuses appends, reads and flushes from then on (KAFKA_STORAGE_ERROR).
///
/// Thread-safe: one mutex holds the offline set and the listeners. Listeners run outside it,
/// once per directory, on the thread that reported the failure.
public final class LogDirectoryFailureChannel: Sendable {
    public typealias Listener = @Sendable (_ directory: String, _ reason: String) -> Void

    private struct State {
        var offline: [String: String] = [:]
        var listeners: [Listener] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// Called with each directory the first time it goes offline.
    public func addListener(_ listener: @escaping Listener) {
        state.withLock { $0.listeners.append(listener) }
    }

    /// Takes `directory` offline for `reason`. Only the first report of a directory counts
    /// (and reaches the listeners); returns whether this one was it.
    @discardableResult
    public func markOffline(_ directory: String, reason: String) -> Bool {
        let listeners: [Listener]? = state.withLock { state in
            guard state.offline[directory] == nil else { return nil }
            state.offline[directory] = reason
            return state.listeners
        }
        guard let listeners else { return false }
        for listener in listeners { listener(directory, reason) }
        return true
    }

    /// Why `directory` is offline, or nil while it is online.
    public func offlineReason(_ directory: String) -> String? {
        state.withLock { $0.offline[directory] }
    }

    public var offlineDirectories: Set<String> { state.withLock { Set($0.offline.keys) } }
}
