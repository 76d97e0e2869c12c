import Foundation
import Testing
@testable import RunnelCluster

/// The etcd client against a real etcd process: reads, compare-and-swap transactions, leases
/// (keep-alive, revoke, expiry) and watches, the operations the cluster metadata store is built
/// on. Each test has its own etcd.
@Suite(.serialized, .timeLimit(.minutes(1))) struct EtcdClientTests {
    /// Runs `body` with a fresh etcd and a client of it, and stops etcd after.
    func withEtcd(_ body: (EtcdClient, EtcdProcess) async throws -> Void) async throws {
        let etcd = try await EtcdProcess()
        let client = EtcdClient(endpoints: [etcd.clientURL])
        defer { etcd.stop() }
        try await body(client, etcd)
    }

    @Test func keysAreWrittenReadByKeyAndByPrefixAndDeleted() async throws {
        try await withEtcd { client, _ in
            let first = try await client.put("/runnel/topics/a", value: Array("A".utf8))
            let second = try await client.put("/runnel/topics/b", value: Array("B".utf8))
            try await client.put("/runnel/topicsX", value: [1])  // shares the prefix's text, not its "/"
            #expect(second > first)
            let (a, revision) = try await client.get("/runnel/topics/a")
            #expect(a?.value == Array("A".utf8) && a?.version == 1 && a?.modRevision == first)
            #expect(revision >= second)
            let listed = try await client.get(prefix: "/runnel/topics/")
            #expect(listed.values.map(\.key) == ["/runnel/topics/a", "/runnel/topics/b"])
            #expect(try await client.delete("/runnel/topics/a") == 1)
            #expect(try await client.get("/runnel/topics/a").value == nil)
            #expect(try await client.delete("/runnel/topics/a") == 0)
        }
    }

    @Test func transactionsCompareAndSwap() async throws {
        try await withEtcd { client, _ in
            // Create-if-absent: only the first of two creators wins; the loser reads the winner.
            let create = { (value: String) in
                try await client.transaction(
                    if: [.createRevision(key: "/runnel/controller", equals: 0)],
                    then: [.put(key: "/runnel/controller", value: Array(value.utf8))],
                    else: [.get(key: "/runnel/controller")])
            }
            let won = try await create("broker-1")
            #expect(won.succeeded && won.reads.isEmpty)
            let lost = try await create("broker-2")
            #expect(!lost.succeeded)
            let winner = try #require(lost.reads.first?.first)
            #expect(winner.value == Array("broker-1".utf8))

            // Compare on the mod revision: a writer with a stale view fails and changes nothing.
            let seen = winner.modRevision
            let swapped = try await client.transaction(
                if: [.modRevision(key: "/runnel/controller", equals: seen)],
                then: [.put(key: "/runnel/controller", value: Array("broker-3".utf8))])
            #expect(swapped.succeeded)
            let stale = try await client.transaction(
                if: [.modRevision(key: "/runnel/controller", equals: seen)],
                then: [.put(key: "/runnel/controller", value: Array("broker-4".utf8))])
            #expect(!stale.succeeded)
            #expect(try await client.get("/runnel/controller").value?.value == Array("broker-3".utf8))
            #expect(try await client.transaction(
                if: [.value(key: "/runnel/controller", equals: Array("broker-3".utf8))], then: [.delete(key: "/runnel/controller")]
            ).succeeded)
            #expect(try await client.get("/runnel/controller").value == nil)
        }
    }

    @Test func leasesAreKeptAliveRevokedAndExpire() async throws {
        try await withEtcd { client, _ in
            let lease = try await client.grantLease(ttlSeconds: 1)
            #expect(lease.ttlSeconds >= 1)
            try await client.put("/runnel/brokers/1", value: [1], lease: lease.id)
            #expect(try await client.get("/runnel/brokers/1").value?.lease == lease.id)
            #expect(try await client.keepAlive(lease.id) == lease.ttlSeconds)
            try await client.revokeLease(lease.id)
            #expect(try await client.get("/runnel/brokers/1").value == nil, "a revoked lease takes its keys")
            #expect(try await client.keepAlive(lease.id) == nil, "a revoked lease cannot be kept alive")

            // A lease nobody keeps alive expires, and its key goes with it.
            let short = try await client.grantLease(ttlSeconds: 1)
            let revision = try await client.put("/runnel/brokers/2", value: [2], lease: short.id)
            var deletion: EtcdKeyValue?
            watching: for try await answer in client.watch(prefix: "/runnel/brokers/", fromRevision: revision + 1) {
                for case .delete(let keyValue) in answer.events {
                    deletion = keyValue
                    break watching
                }
            }
            #expect(deletion?.key == "/runnel/brokers/2")
            #expect(try await client.keepAlive(short.id) == nil)
        }
    }

    @Test func aWatchReportsEveryChangeInOrderFromItsRevision() async throws {
        try await withEtcd { client, _ in
            let before = try await client.put("/runnel/partitions/t/0", value: Array("v1".utf8))
            try await client.put("/elsewhere", value: [0])
            try await client.put("/runnel/partitions/t/0", value: Array("v2".utf8))
            try await client.put("/runnel/partitions/t/1", value: Array("w1".utf8))
            try await client.delete("/runnel/partitions/t/0")
            // Watching from just after the first write replays the later ones (history), then
            // goes on live.
            var seen: [String] = []
            var liveSeen = false
            for try await answer in client.watch(prefix: "/runnel/partitions/", fromRevision: before + 1) {
                for event in answer.events {
                    switch event {
                    case .put(let keyValue): seen.append("put \(keyValue.key) \(String(decoding: keyValue.value, as: UTF8.self))")
                    case .delete(let keyValue): seen.append("delete \(keyValue.key)")
                    }
                }
                if seen.count == 3, !liveSeen {
                    liveSeen = true
                    try await client.put("/runnel/partitions/t/2", value: Array("live".utf8))
                }
                if seen.count >= 4 { break }
            }
            #expect(seen == [
                "put /runnel/partitions/t/0 v2", "put /runnel/partitions/t/1 w1", "delete /runnel/partitions/t/0",
                "put /runnel/partitions/t/2 live",
            ])
        }
    }

    @Test func anUnreachableEndpointIsSkipped() async throws {
        let etcd = try await EtcdProcess()
        defer { etcd.stop() }
        let closed = "http://127.0.0.1:\(try EtcdProcess.freePort())"
        let client = EtcdClient(endpoints: [closed, etcd.clientURL])
        let revision = try await client.put("/runnel/cluster-id", value: Array("abc".utf8))
        #expect(revision > 0)
        #expect(try await client.get("/runnel/cluster-id").value?.value == Array("abc".utf8))

        // With no endpoint up, calls fail with `.unavailable`, naming what was tried.
        let nowhere = EtcdClient(endpoints: [closed])
        let error = await #expect(throws: EtcdError.self) { try await nowhere.get("/runnel/cluster-id") }
        #expect(error?.code == .unavailable && error?.message.contains(closed) == true)
    }

    @Test func prefixEndsFollowEtcd() {
        #expect(EtcdJSON.prefixEnd("/a/") == Array("/a0".utf8))
        #expect(EtcdJSON.prefixEnd("a\u{7f}") == [UInt8(ascii: "a"), 0x80])
        #expect(EtcdJSON.prefixEnd("") == [0])
    }
}
