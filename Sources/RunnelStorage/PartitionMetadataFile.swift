import Foundation
import RunnelProtocol

/// `partition.metadata` in a partition directory (Kafka's file, KIP-516): the id of the topic
/// the log belongs to. A topic deleted and created again under the same name is another
/// topic; without the id, a broker that was down meanwhile would serve the old records as the
/// new topic's.
public enum PartitionMetadataFile {
    public static let fileName = "partition.metadata"

    /// The recorded topic id; nil when there is no file (a log written before it existed) or
    /// it cannot be read as one.
    public static func read(directory: String) -> KafkaUUID? {
        guard let data = FileManager.default.contents(atPath: directory + "/" + fileName) else { return nil }
        for line in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2, parts[0] == "topic_id" { return KafkaUUID(base64URL: parts[1]) }
        }
        return nil
    }

    /// Records `topicId` atomically (temporary file, fsync, rename, directory fsync).
    public static func write(_ topicId: KafkaUUID, directory: String) throws(StorageError) {
        try FileSystem.writeAtomically("version: 0\ntopic_id: \(topicId.base64URL)\n", to: directory + "/" + fileName)
    }
}
