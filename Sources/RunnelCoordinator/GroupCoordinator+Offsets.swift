/// Committed offsets, group listing and deletion. Changes come out as records to append;
/// `replay` applies them, both after a successful append and when loading at start-up, so the
/// state is always what the log says.
extension GroupCoordinator {
    /// Whether a commit from this member may be applied (Kafka's validateOffsetCommit): a
    /// member of the current generation, or a "simple" consumer (no member id, generation -1)
    /// of a group without members.
    public func validateCommit(groupId: String, memberId: String, generationId: Int32) -> Int16 {
        guard !groupId.isEmpty else { return Error.invalidGroupId }
        if let code = validateConsumerCommit(groupId: groupId, memberId: memberId, memberEpoch: generationId) { return code }
        guard let group = groups[groupId], !group.members.isEmpty else {
            return generationId < 0 ? Error.none : Error.illegalGeneration
        }
        if generationId < 0, memberId.isEmpty { return Error.unknownMemberId }
        guard group.members[memberId] != nil else { return Error.unknownMemberId }
        guard generationId == group.generationId else { return Error.illegalGeneration }
        return group.state == .preparingRebalance ? Error.rebalanceInProgress : Error.none
    }

    /// The records that commit these offsets; apply them with `replay` once appended.
    public func commitRecords(groupId: String, offsets: [GroupTopicPartition: OffsetAndMetadata]) -> [CoordinatorRecord] {
        offsets.sorted { $0.key < $1.key }.map { .offsetCommit(groupId: groupId, partition: $0.key, value: $0.value) }
    }

    /// Applies a record from the log: just appended, or (`loadingAt` set) read back at
    /// start-up. Group metadata only matters when loading — the live state already holds it —
    /// and restored members get a fresh session from the load time.
    public mutating func replay(_ record: CoordinatorRecord, loadingAt loadTime: Int64? = nil) {
        switch record {
        case .offsetCommit(let groupId, let partition, let value):
            if let value {
                offsets[groupId, default: [:]][partition] = value
            } else {
                offsets[groupId]?.removeValue(forKey: partition)
                if offsets[groupId]?.isEmpty == true { offsets.removeValue(forKey: groupId) }
            }
        case .groupMetadata(let groupId, let value):
            guard let loadTime else { return }
            guard let value else {
                groups.removeValue(forKey: groupId)
                return
            }
            var group = ClassicGroup(groupId: groupId)
            group.generationId = value.generationId
            group.protocolType = value.protocolType
            group.protocolName = value.protocolName.isEmpty ? nil : value.protocolName
            group.leaderId = value.leaderId.isEmpty ? nil : value.leaderId
            for (index, member) in value.members.enumerated() {
                group.members[member.memberId] = ClassicGroup.Member(
                    memberId: member.memberId, groupInstanceId: member.groupInstanceId, clientId: member.clientId,
                    clientHost: member.clientHost, sessionTimeoutMs: member.sessionTimeoutMs, rebalanceTimeoutMs: member.rebalanceTimeoutMs,
                    protocols: [.init(name: value.protocolName, metadata: member.subscription)], assignment: member.assignment,
                    lastHeartbeat: loadTime, joinedAt: index)
            }
            group.joinCounter = value.members.count
            group.state = group.members.isEmpty ? .empty : .stable
            groups[groupId] = group
        }
    }

    /// The record that stores a classic group as it is now (after a rebalance completed or the
    /// group emptied); nil while a rebalance is in flight.
    public func groupMetadataRecord(_ groupId: String) -> CoordinatorRecord? {
        guard let group = groups[groupId], group.state == .stable || group.state == .empty else { return nil }
        let members = group.members.values.sorted { $0.joinedAt < $1.joinedAt }.map { member in
            GroupMetadataValue.Member(
                memberId: member.memberId, groupInstanceId: member.groupInstanceId, clientId: member.clientId,
                clientHost: member.clientHost, sessionTimeoutMs: member.sessionTimeoutMs, rebalanceTimeoutMs: member.rebalanceTimeoutMs,
                subscription: member.metadata(for: group.protocolName), assignment: member.assignment)
        }
        return .groupMetadata(groupId: groupId, value: GroupMetadataValue(
            protocolType: group.protocolType ?? "consumer", generationId: group.generationId, protocolName: group.protocolName ?? "",
            leaderId: group.leaderId ?? "", members: members))
    }

    /// Committed offsets of a group, for the given partitions or all of them.
    public func committedOffsets(groupId: String, partitions: [GroupTopicPartition]?) -> [GroupTopicPartition: OffsetAndMetadata] {
        let all = offsets[groupId] ?? [:]
        guard let partitions else { return all }
        return all.filter { partitions.contains($0.key) }
    }

    /// DeleteGroups: only a group without members; its offsets go as tombstones.
    public mutating func deleteGroup(_ groupId: String) -> (errorCode: Int16, records: [CoordinatorRecord]) {
        if let group = groups[groupId], !group.members.isEmpty { return (Error.nonEmptyGroup, []) }
        if let group = consumerGroups[groupId], !group.members.isEmpty { return (Error.nonEmptyGroup, []) }
        guard groups[groupId] != nil || offsets[groupId] != nil || consumerGroups[groupId] != nil else { return (Error.groupIdNotFound, []) }
        groups.removeValue(forKey: groupId)
        consumerGroups.removeValue(forKey: groupId)
        let tombstones = (offsets[groupId] ?? [:]).keys.sorted().map {
            CoordinatorRecord.offsetCommit(groupId: groupId, partition: $0, value: nil)
        } + [.groupMetadata(groupId: groupId, value: nil)]
        return (Error.none, tombstones)
    }

    /// OffsetDelete: drops committed offsets of partitions the group no longer consumes.
    public func deleteOffsetsRecords(groupId: String, partitions: [GroupTopicPartition]) -> [CoordinatorRecord] {
        partitions.filter { offsets[groupId]?[$0] != nil }.map { .offsetCommit(groupId: groupId, partition: $0, value: nil) }
    }

    /// `offsets.retention.minutes`: tombstones for offsets of groups without members that were
    /// last committed more than `retentionMs` ago (Kafka expires them the same way).
    public func expiredOffsetsRecords(now: Int64, retentionMs: Int64) -> [(groupId: String, records: [CoordinatorRecord])] {
        offsets.keys.sorted().compactMap { groupId in
            guard groups[groupId]?.members.isEmpty ?? true, consumerGroups[groupId]?.members.isEmpty ?? true else { return nil }
            let expired = offsets[groupId]!.filter { now - $0.value.commitTimestamp > retentionMs }.keys.sorted()
            guard !expired.isEmpty else { return nil }
            return (groupId, expired.map { .offsetCommit(groupId: groupId, partition: $0, value: nil) })
        }
    }

    /// Every group with members or committed offsets: (id, protocol type, state).
    public var listing: [(groupId: String, protocolType: String, state: ClassicGroup.State)] {
        let ids = Set(groups.keys).union(offsets.keys).union(consumerGroups.keys)
        return ids.sorted().map { id in
            if let consumer = consumerGroups[id], !consumer.members.isEmpty || groups[id] == nil {
                return (id, "consumer", consumer.members.isEmpty ? .empty : .stable)
            }
            let group = groups[id]
            return (id, group?.protocolType ?? "consumer", group?.state ?? .empty)
        }
    }

    /// A group as DescribeGroups shows it; nil when the coordinator has never heard of it.
    public func describe(_ groupId: String) -> ClassicGroup? {
        if let group = groups[groupId] { return group }
        return offsets[groupId] == nil ? nil : ClassicGroup(groupId: groupId)
    }

    /// Forgets every group `belongs` selects — their `__consumer_offsets` partition is no longer
    /// led here, so another broker coordinates them now: classic and consumer groups and their
    /// committed offsets. Requests parked in a join or sync answer NOT_COORDINATOR, and their
    /// clients look the coordinator up again. Replaying the partition's log brings them back.
    public mutating func unload(where belongs: (String) -> Bool) -> [Action] {
        var actions: [Action] = []
        for (groupId, group) in groups where belongs(groupId) {
            for member in group.members.values {
                if let id = member.awaitingJoin {
                    actions.append(.completeJoin(id, JoinResult(errorCode: Error.notCoordinator, memberId: member.memberId)))
                }
                if let id = member.awaitingSync { actions.append(.completeSync(id, SyncResult(errorCode: Error.notCoordinator))) }
            }
            groups[groupId] = nil
        }
        consumerGroups = consumerGroups.filter { !belongs($0.key) }
        offsets = offsets.filter { !belongs($0.key) }
        return actions
    }
}
