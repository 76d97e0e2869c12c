#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// An exclusive `flock` on `<data directory>/.lock`, held while the broker runs, so that a
/// second broker started on the same directory stops at start-up instead of writing over the
/// live checkpoints and logs (Kafka's LogManager locks each log directory the same way).
///
/// The lock belongs to the open file description: it is released when the descriptor closes
/// (`release`, after a clean shutdown wrote its last byte; deinit) or the process exits,
/// however it exits, so a crash never leaves a stale lock. The descriptor is behind a mutex
/// only so that `release` may close it once.
final class DirectoryLock: Sendable {
    static let fileName = ".lock"

    let directory: String
    /// The locked descriptor, or -1 once released.
    private let descriptor: Mutex<CInt>

    /// Takes the lock or throws `directoryInUse` naming the directory.
    init(directory: String) throws(StorageError) {
        self.directory = directory
        let path = directory + "/" + Self.fileName
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw StorageError.posix("open", path: path) }
        var result: CInt
        repeat { result = flock(descriptor, LOCK_EX | LOCK_NB) } while result != 0 && errno == EINTR
        guard result == 0 else {
            let held = errno == EWOULDBLOCK
            let failure = held
                ? StorageError(.directoryInUse, "log directory \(directory) is in use by another process (\(path) is locked)")
                : StorageError.posix("flock", path: path)
            close(descriptor)
            throw failure
        }
        self.descriptor = Mutex(descriptor)
    }

    /// Closes the lock file, releasing the lock (a clean shutdown's last step, so that a new
    /// broker, in this process or another, may take the directory).
    func release() {
        descriptor.withLock { descriptor in
            if descriptor >= 0 { close(descriptor) }
            descriptor = -1
        }
    }

    deinit { release() }
}
