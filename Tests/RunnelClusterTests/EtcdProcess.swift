import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import RunnelCluster

/// A real etcd (Debian's `etcd-server`, installed by tools/setup) on free loopback ports with
/// a temporary data directory, for one test. Started with a 50 ms heartbeat and a 500 ms
/// election timeout, so that etcd grants 1-second leases. `stop` kills it and removes its data.
///
/// Owned by one test; not shared between tasks.
final class EtcdProcess {
    let clientURL: String
    private let process = Process()
    private let dataDirectory: String

    /// Starts etcd and waits until it answers; fails (never skips) when etcd is not installed.
    init() async throws {
        guard let binary = Self.find("etcd") else {
            throw EtcdError(.unavailable, "etcd is not on PATH: tools/setup installs Debian's etcd-server")
        }
        let clientPort = try Self.freePort()
        let peerPort = try Self.freePort()
        clientURL = "http://127.0.0.1:\(clientPort)"
        dataDirectory = NSTemporaryDirectory() + "runnel-etcd-" + UUID().uuidString
        let peerURL = "http://127.0.0.1:\(peerPort)"
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "--name", "test", "--data-dir", dataDirectory,
            "--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
            "--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
            "--initial-cluster", "test=\(peerURL)",
            "--heartbeat-interval", "50", "--election-timeout", "500", "--experimental-watch-progress-notify-interval", "5s",
            "--logger", "zap", "--log-level", "error",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let probe = EtcdClient(endpoints: [clientURL], requestTimeout: .seconds(1))
        for _ in 0..<200 {
            if (try? await probe.get("probe")) != nil { return }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        stop()
        throw EtcdError(.unavailable, "etcd at \(clientURL) did not start")
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }

    deinit { stop() }

    private static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// A loopback port nothing listens on now (bound, read back and released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw EtcdError(.unavailable, "socket: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(fd, socketAddress, length) == 0 && getsockname(fd, socketAddress, &length) == 0
            }
        }
        guard bound else { throw EtcdError(.unavailable, "bind: \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
