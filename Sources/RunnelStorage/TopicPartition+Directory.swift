import RunnelProtocol

/// A partition's log directory is `<topic>-<partition>`, as in Kafka.
extension TopicPartition {
    public var directoryName: String { description }

    /// Parses a directory name; the partition is after the last dash (topics may contain dashes).
    public init?(directoryName: String) {
        guard let dash = directoryName.lastIndex(of: "-"), dash != directoryName.startIndex,
              let partition = Int32(directoryName[directoryName.index(after: dash)...]), partition >= 0
        else { return nil }
        self.init(topic: String(directoryName[..<dash]), partition: partition)
    }
}
