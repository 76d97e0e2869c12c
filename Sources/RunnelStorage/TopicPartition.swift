/// A topic name and partition number; its directory is `<topic>-<partition>`, as in Kafka.
public struct TopicPartition: Hashable, Sendable, CustomStringConvertible, Comparable {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)-\(partition)" }
    public var directoryName: String { description }

    /// Parses a directory name; the partition is after the last dash (topics may contain dashes).
    public init?(directoryName: String) {
        guard let dash = directoryName.lastIndex(of: "-"), dash != directoryName.startIndex,
              let partition = Int32(directoryName[directoryName.index(after: dash)...]), partition >= 0
        else { return nil }
        self.init(topic: String(directoryName[..<dash]), partition: partition)
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }
}
