import Foundation
import Testing
@testable import RunnelStorage

/// meta.properties: a data directory is claimed by one broker of one cluster at its first use,
/// and refused, with the file named, to any other.
@Suite struct MetaPropertiesTests {
    @Test func theFirstClaimWritesTheFileAndLaterClaimsCheckIt() throws {
        let directory = TemporaryDirectory()
        let identity = MetaProperties(clusterId: "kGkAseq7T3KWQv2hdsT1Gg", nodeId: 1)
        try identity.claim(directory: directory.path)
        #expect(try MetaProperties.read(directory: directory.path) == identity)
        try identity.claim(directory: directory.path)  // the same broker again: fine

        let otherBroker = #expect(throws: StorageError.self) {
            try MetaProperties(clusterId: identity.clusterId, nodeId: 2).claim(directory: directory.path)
        }
        #expect(otherBroker?.code == .invalidConfig)
        #expect(otherBroker?.detail.contains(directory.path + "/meta.properties") == true)
        #expect(otherBroker?.detail.contains("belongs to broker 1") == true)

        let otherCluster = #expect(throws: StorageError.self) {
            try MetaProperties(clusterId: "another-cluster-id-000", nodeId: 1).claim(directory: directory.path)
        }
        #expect(otherCluster?.detail.contains("belongs to cluster kGkAseq7T3KWQv2hdsT1Gg") == true)
    }

    @Test func aFileKafkaWroteIsRead() throws {
        let directory = TemporaryDirectory()
        let kafka = "#\n#Wed Dec 02 13:20:17 UTC 2026\nnode.id=3\nversion=1\ncluster.id=MkU3OEVBNTcwNTJENDM2Qk\ndirectory.id=abc\n"
        try kafka.write(toFile: directory.path + "/meta.properties", atomically: true, encoding: .utf8)
        #expect(try MetaProperties.read(directory: directory.path) == MetaProperties(clusterId: "MkU3OEVBNTcwNTJENDM2Qk", nodeId: 3))
    }

    @Test func anUnreadableFileIsAnErrorNamingIt() throws {
        let directory = TemporaryDirectory()
        try "version=0\nbroker.id=1\n".write(toFile: directory.path + "/meta.properties", atomically: true, encoding: .utf8)
        let error = #expect(throws: StorageError.self) { try MetaProperties.read(directory: directory.path) }
        #expect(error?.code == .corruptFile && error?.detail.contains(directory.path + "/meta.properties") == true)
    }
}
