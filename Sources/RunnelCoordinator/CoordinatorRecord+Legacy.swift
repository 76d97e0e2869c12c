/// Runnel's own `__consumer_offsets` format from before it wrote Kafka's: key = int16 type (1
/// offset commit, 2 group) and int32-length strings; value without a version (offset commit:
/// offset, leader epoch, metadata, commit time; group: protocol type, generation, protocol,
/// leader, members with session before rebalance timeout). Read only, so data directories
/// written before keep working; the broker rewrites what it finds in Kafka's format
/// (GroupCoordinatorRuntime's migration).
extension CoordinatorRecord {
    static func decodeLegacy(key: [UInt8], value: [UInt8]?) -> CoordinatorRecord? {
        var reader = ByteReader(key)
        guard let type: Int16 = reader.read(), let groupId = reader.readString() else { return nil }
        switch type {
        case Self.groupMetadataType:
            guard reader.isAtEnd else { return nil }
            guard let value else { return .groupMetadata(groupId: groupId, value: nil) }
            guard let decoded = GroupMetadataValue(legacyValue: value) else { return nil }
            return .groupMetadata(groupId: groupId, value: decoded)
        case Self.offsetCommitType:
            guard let topic = reader.readString(), let partition: Int32 = reader.read(), reader.isAtEnd else { return nil }
            let partitionKey = GroupTopicPartition(topic: topic, partition: partition)
            guard let value else { return .offsetCommit(groupId: groupId, partition: partitionKey, value: nil) }
            var valueReader = ByteReader(value)
            guard let committed: Int64 = valueReader.read(), let epoch: Int32 = valueReader.read(),
                  let metadata = valueReader.readString(), let timestamp: Int64 = valueReader.read(), valueReader.isAtEnd
            else { return nil }
            return .offsetCommit(
                groupId: groupId, partition: partitionKey,
                value: OffsetAndMetadata(offset: committed, leaderEpoch: epoch, metadata: metadata, commitTimestamp: timestamp))
        default:
            return nil
        }
    }
}

extension GroupMetadataValue {
    init?(legacyValue bytes: [UInt8]) {
        var reader = ByteReader(bytes)
        guard let type = reader.readString(), let generation: Int32 = reader.read(), let name = reader.readString(),
              let leader = reader.readString(), let count: Int32 = reader.read(), count >= 0, Int(count) <= bytes.count
        else { return nil }
        var members: [Member] = []
        for _ in 0..<count {
            guard let id = reader.readString(), let instance = reader.readString(), let client = reader.readString(),
                  let host = reader.readString(), let session: Int32 = reader.read(), let rebalance: Int32 = reader.read(),
                  let subscription = reader.readBytes(), let assignment = reader.readBytes()
            else { return nil }
            members.append(Member(
                memberId: id, groupInstanceId: instance.isEmpty ? nil : instance, clientId: client, clientHost: host,
                sessionTimeoutMs: session, rebalanceTimeoutMs: rebalance, subscription: subscription, assignment: assignment))
        }
        guard reader.isAtEnd else { return nil }
        self.init(protocolType: type, generationId: generation, protocolName: name, leaderId: leader, members: members)
    }
}
