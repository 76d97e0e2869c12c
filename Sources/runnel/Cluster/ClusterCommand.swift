import ArgumentParser
import Foundation
import RunnelClient
#if canImport(Glibc)
import Glibc
#endif

/// `runnel cluster start|stop|status`: a local cluster for development and tests — one etcd
/// (from PATH) and N brokers on loopback ports, each with its own data directory under `--dir`.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "Start, stop and inspect a local cluster (etcd and brokers on loopback).",
        subcommands: [Start.self, Stop.self, Status.self])

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start etcd and N brokers in the background; print the bootstrap servers.")
        @Option(help: "How many brokers.") var brokers = 3
        @Option(help: "Directory for etcd's and every broker's data and logs; reused by a later start.") var dir = "runnel-cluster"
        @Option(name: .customLong("lease-ms"), help: "metadata.lease.ttl.ms of every broker (failure detection time).") var leaseMs = 1000
        @Option(name: .customLong("override"), help: "A broker setting KEY=VALUE for every broker; repeatable.") var overrides: [String] = []

        func validate() throws {
            guard (1...32).contains(brokers) else { throw ValidationError("--brokers must be 1 to 32") }
        }

        func run() async throws {
            let directory = URL(fileURLWithPath: dir).standardizedFileURL.path
            if let existing = try? LocalCluster.read(directory: directory), existing.anyRunning {
                throw ValidationError("a cluster is already running from \(directory): stop it first (runnel cluster stop --dir \(dir))")
            }
            guard let etcd = LocalProcess.which("etcd") else {
                throw ValidationError("etcd is not in PATH: install Debian's etcd-server (tools/setup does)")
            }
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let previous = try? LocalCluster.read(directory: directory)
            var cluster = LocalCluster(
                etcdClientPort: try previous?.etcdClientPort ?? LocalProcess.freePort(),
                etcdPeerPort: try previous?.etcdPeerPort ?? LocalProcess.freePort())
            let client = "http://127.0.0.1:\(cluster.etcdClientPort)", peer = "http://127.0.0.1:\(cluster.etcdPeerPort)"
            // Short heartbeats and elections let etcd grant 1 s leases (it raises a TTL below
            // 1.5 x the election timeout); on loopback they are safe.
            cluster.etcdPid = try LocalProcess.spawn([
                etcd, "--name", "runnel", "--data-dir", directory + "/etcd",
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "runnel=\(peer)",
                "--heartbeat-interval", "50", "--election-timeout", "500", "--max-txn-ops", "4096",
                // Progress notifications keep the brokers' quiet watches provably alive.
                "--experimental-watch-progress-notify-interval", "5s",
                "--logger", "zap", "--log-level", "warn",
            ], log: directory + "/etcd.log")
            try await waitUntil("etcd accepts connections on port \(cluster.etcdClientPort)") {
                LocalProcess.accepts(port: cluster.etcdClientPort)
            }
            let runnel = try Self.ownExecutable()
            for id in 1...brokers {
                let port = try previous?.brokerPorts[id] ?? LocalProcess.freePort()
                var arguments = [
                    runnel, "broker", "--broker-id", String(id), "--data-dir", "\(directory)/broker-\(id)",
                    "--listen", "127.0.0.1:\(port)", "--metadata", "etcd://127.0.0.1:\(cluster.etcdClientPort)",
                    "--override", "metadata.lease.ttl.ms=\(leaseMs)",
                ]
                for override in overrides { arguments += ["--override", override] }
                cluster.brokerPorts[id] = port
                cluster.brokerPids[id] = try LocalProcess.spawn(arguments, log: "\(directory)/broker-\(id).log")
                try cluster.write(directory: directory)
            }
            for (id, port) in cluster.brokerPorts.sorted(by: { $0.key < $1.key }) {
                try await waitUntil("broker \(id) accepts connections on port \(port) (see \(directory)/broker-\(id).log)") {
                    if let pid = cluster.brokerPids[id], !LocalProcess.isRunning(pid) {
                        throw ValidationError("broker \(id) exited: see \(directory)/broker-\(id).log")
                    }
                    return LocalProcess.accepts(port: port)
                }
            }
            print(cluster.bootstrap)
        }

        private static func ownExecutable() throws -> String {
            try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        }

        private func waitUntil(_ what: String, _ condition: () throws -> Bool) async throws {
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                if try condition() { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw ValidationError("gave up after 30 s waiting until \(what)")
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the brokers (SIGTERM, a clean shutdown), then etcd.")
        @Option(help: "The directory given to `runnel cluster start`.") var dir = "runnel-cluster"

        func run() async throws {
            let directory = URL(fileURLWithPath: dir).standardizedFileURL.path
            var cluster = try LocalCluster.read(directory: directory)
            var unclean: [Int] = []
            for (id, pid) in cluster.brokerPids.sorted(by: { $0.key < $1.key }) where LocalProcess.isRunning(pid) {
                if !(await LocalProcess.stop(pid, timeout: .seconds(30))) { unclean.append(id) }
            }
            if let pid = cluster.etcdPid { await LocalProcess.stop(pid, timeout: .seconds(10)) }
            cluster.brokerPids = [:]
            cluster.etcdPid = nil
            try cluster.write(directory: directory)
            if !unclean.isEmpty { throw ValidationError("brokers \(unclean) did not stop within 30 s and were killed") }
            print("stopped")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Brokers, controller, and partitions that are offline or under-replicated.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let metadata = try await client.withAdmin { try await $0.describeCluster() }
            print("Cluster \(metadata.clusterId ?? "?"): \(metadata.brokers.count) brokers, controller \(metadata.controllerId)")
            for (id, address) in metadata.brokers.sorted(by: { $0.key < $1.key }) {
                print("\tBroker: \(id)\t\(address.host):\(address.port)\(id == metadata.controllerId ? "\t(controller)" : "")")
            }
            let partitions = metadata.topics.values.sorted { $0.name < $1.name }.flatMap { topic in
                topic.partitions.map { (topic.name, $0) }
            }
            let offline = partitions.filter { $0.1.leader < 0 }
            let underReplicated = partitions.filter { $0.1.leader >= 0 && $0.1.isr.count < $0.1.replicas.count }
            print("Partitions: \(partitions.count)\tOffline: \(offline.count)\tUnderReplicated: \(underReplicated.count)")
            for (name, partition) in offline + underReplicated {
                print("\tTopic: \(name)\tPartition: \(partition.index)\tLeader: \(partition.leader)"
                      + "\tReplicas: \(partition.replicas.map(String.init).joined(separator: ","))"
                      + "\tIsr: \(partition.isr.map(String.init).joined(separator: ","))")
            }
        }
    }
}

/// What `runnel cluster start` started, kept in `<dir>/cluster.json` for `stop`.
struct LocalCluster: Codable {
    var etcdClientPort: Int
    var etcdPeerPort: Int
    var etcdPid: Int32?
    var brokerPorts: [Int: Int] = [:]
    var brokerPids: [Int: Int32] = [:]

    var bootstrap: String { brokerPorts.sorted { $0.key < $1.key }.map { "127.0.0.1:\($0.value)" }.joined(separator: ",") }

    var anyRunning: Bool {
        (etcdPid.map(LocalProcess.isRunning) ?? false) || brokerPids.values.contains(where: LocalProcess.isRunning)
    }

    static func read(directory: String) throws -> LocalCluster {
        let path = directory + "/cluster.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("no cluster was started from \(directory) (\(path) is missing)")
        }
        return try JSONDecoder().decode(LocalCluster.self, from: data)
    }

    func write(directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: directory + "/cluster.json"), options: .atomic)
    }
}
