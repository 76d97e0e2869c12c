import RunnelProtocol

/// A per-log-directory checkpoint of one offset per partition, in Kafka's text format:
/// a version line (0), an entry count, then "topic partition offset" lines. Used for the
/// recovery point, log start offset and high watermark (replication-offset) checkpoints.
struct OffsetCheckpointFile {
    static let recoveryPoint = "recovery-point-offset-checkpoint"
    static let logStartOffset = "log-start-offset-checkpoint"
    static let highWatermark = "replication-offset-checkpoint"

    let path: String

    func read() throws(StorageError) -> [TopicPartition: Int64] {
        guard FileSystem.exists(path) else { return [:] }
        let text = try FileSystem.readText(path)
        // Every line ends with a newline: a file without one was cut short (perhaps mid-number).
        guard text.hasSuffix("\n") else { throw StorageError(.corruptFile, "\(path): not an offset checkpoint (cut short)") }
        let lines = text.split(separator: "\n")
        guard lines.count >= 2, lines[0] == "0", let count = Int(lines[1]), lines.count == count + 2 else {
            throw StorageError(.corruptFile, "\(path): not an offset checkpoint")
        }
        var offsets: [TopicPartition: Int64] = [:]
        for line in lines.dropFirst(2) {
            // Topic names cannot contain spaces, so the last two fields are partition and offset.
            let fields = line.split(separator: " ")
            guard fields.count == 3, let partition = Int32(fields[1]), let offset = Int64(fields[2]) else {
                throw StorageError(.corruptFile, "\(path): bad line \(line)")
            }
            offsets[TopicPartition(topic: String(fields[0]), partition: partition)] = offset
        }
        return offsets
    }

    func write(_ offsets: [TopicPartition: Int64]) throws(StorageError) {
        let lines = ["0", String(offsets.count)] + offsets.sorted { $0.key < $1.key }.map {
            "\($0.key.topic) \($0.key.partition) \($0.value)"
        }
        try FileSystem.writeAtomically(lines.joined(separator: "\n") + "\n", to: path)
    }
}
