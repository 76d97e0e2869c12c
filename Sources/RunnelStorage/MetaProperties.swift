/// A data directory's identity, Kafka's `meta.properties`: the cluster and the broker its data
/// belongs to. Written at the first start, checked at every later one, so that a directory is
/// never served under another broker id or joined to another cluster (its logs, offsets and
/// epochs would then be taken for someone else's).
///
/// The format is Kafka's (a Java properties file: `key=value` lines, `#` comments), version 1:
/// `cluster.id`, `node.id`, `version`.
public struct MetaProperties: Equatable, Sendable {
    public static let fileName = "meta.properties"

    public var clusterId: String
    public var nodeId: Int32

    public init(clusterId: String, nodeId: Int32) {
        self.clusterId = clusterId
        self.nodeId = nodeId
    }

    /// The file in `directory`, nil if there is none yet. Throws `corruptFile`, naming the file,
    /// if it cannot be read as version 1.
    public static func read(directory: String) throws(StorageError) -> MetaProperties? {
        let path = directory + "/" + fileName
        guard FileSystem.exists(path) else { return nil }
        var values: [String: String] = [:]
        for line in try FileSystem.readText(path).split(whereSeparator: \.isNewline) {
            let text = trimmed(line)
            guard !text.isEmpty, !text.hasPrefix("#"), !text.hasPrefix("!"), let equals = text.firstIndex(of: "=") else { continue }
            values[String(trimmed(text[..<equals]))] = String(trimmed(text[text.index(after: equals)...]))
        }
        guard values["version"] == "1", let clusterId = values["cluster.id"], !clusterId.isEmpty,
              let nodeId = values["node.id"].flatMap({ Int32($0) })
        else {
            throw StorageError(.corruptFile, "\(path) is not a version 1 meta.properties with cluster.id and node.id: \(values)")
        }
        return MetaProperties(clusterId: clusterId, nodeId: nodeId)
    }

    private static func trimmed(_ text: Substring) -> Substring {
        var text = text.drop(while: \.isWhitespace)
        while text.last?.isWhitespace == true { text = text.dropLast() }
        return text
    }

    /// Writes the file atomically (temporary file, fsync, rename, directory fsync).
    public func write(directory: String) throws(StorageError) {
        let text = "#\n#Written by Runnel\nversion=1\ncluster.id=\(clusterId)\nnode.id=\(nodeId)\n"
        try FileSystem.writeAtomically(text, to: directory + "/" + Self.fileName)
    }

    /// Records this identity in `directory` at its first use, or checks it against the one
    /// recorded. Throws `invalidConfig`, naming the file, when the directory belongs to another
    /// broker or another cluster.
    public func claim(directory: String) throws(StorageError) {
        guard let recorded = try Self.read(directory: directory) else { return try write(directory: directory) }
        let path = directory + "/" + Self.fileName
        guard recorded.nodeId == nodeId else {
            throw StorageError(
                .invalidConfig,
                "data directory \(directory) belongs to broker \(recorded.nodeId) (\(path)), not to broker \(nodeId): start broker \(recorded.nodeId) on it, or give this broker another directory")
        }
        guard recorded.clusterId == clusterId else {
            throw StorageError(
                .invalidConfig,
                "data directory \(directory) belongs to cluster \(recorded.clusterId) (\(path)), not to cluster \(clusterId)")
        }
    }
}
