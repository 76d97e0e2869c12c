#if canImport(Glibc)
import Glibc
#endif

/// Named points where crash tests stop the process dead: with `RUNNEL_FAILPOINT=<name>` in
/// its environment, the process SIGKILLs itself the first time it reaches `<name>`, as a
/// power cut or OOM kill would stop it there. Unit tests pass their own hook instead.
enum Failpoint {
    private static let armed: String? = getenv("RUNNEL_FAILPOINT").map { String(cString: $0) }

    /// The hook production code passes: kills the process at the armed point, else does nothing.
    static let processKill: @Sendable (String) throws -> Void = { name in
        guard name == armed else { return }
        kill(getpid(), SIGKILL)
    }
}
