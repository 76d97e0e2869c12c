import RunnelCluster
import RunnelProtocol

/// AlterPartitionReassignments and ListPartitionReassignments on this broker (KIP-455). A
/// request's new states are decided by `ReassignmentLogic` and written by
/// `PartitionStateWriter`; the controller completes each reassignment once its target replicas
/// are in sync, while the new replicas fetch from the leader like any follower.
struct PartitionReassignments: Sendable {
    let writer: PartitionStateWriter

    /// Starts (target non-nil) or cancels (nil) the reassignment of each partition. A target
    /// may name only live brokers.
    func reassign(
        _ targets: [TopicPartition: [Int32]?], allowReplicationFactorChange: Bool
    ) async -> [TopicPartition: PartitionStateWriter.Outcome] {
        await writer.write(targets.keys.sorted()) { partition, current, image in
            let live = image.liveBrokerIds
            switch ReassignmentLogic.reassign(
                current, to: targets[partition] ?? nil, registered: live, live: live,
                allowReplicationFactorChange: allowReplicationFactorChange)
            {
            case .failure(.invalidAssignment(let reason)): return .answer(.init(code: .invalidReplicaAssignment, message: reason))
            case .failure(.replicationFactorChange(let reason)): return .answer(.init(code: .invalidReplicationFactor, message: reason))
            case .failure(.noReassignment):
                return .answer(.init(code: .noReassignmentInProgress, message: "no reassignment of the partition is in progress"))
            case .success(nil): return .answer(.init(code: .none))
            case .success(let next?): return .write(next, ifGone: nil)
            }
        }
    }

    /// Partitions with a reassignment under way (all of them, or among `wanted`).
    func ongoing(among wanted: [TopicPartition]?) -> [(TopicPartition, PartitionState)] {
        let image = writer.view.image
        return (wanted ?? image.partitions.keys.sorted()).compactMap { partition in
            guard let state = image.partitions[partition]?.state, state.isReassigning else { return nil }
            return (partition, state)
        }
    }
}
