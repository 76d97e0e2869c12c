import RunnelCluster
import RunnelProtocol

/// ElectLeaders on this broker: each partition's election is decided by `ControllerLogic`
/// and written by `PartitionStateWriter` (compare-and-set on the state it read).
struct LeaderElections: Sendable {
    let writer: PartitionStateWriter

    /// Elects leaders of `partitions` (every partition when nil).
    func elect(_ type: ControllerLogic.ElectionType, _ partitions: [TopicPartition]?) async -> [TopicPartition: PartitionStateWriter.Outcome] {
        await writer.write(partitions ?? writer.view.image.partitions.keys.sorted()) { _, current, image in
            switch ControllerLogic.election(type, of: current, live: image.liveBrokerIds) {
            case .notNeeded:
                return .answer(.init(code: .electionNotNeeded, message: "leader \(current.leader) needs no election"))
            case .notPossible(let reason):
                return .answer(.init(code: type == .preferred ? .preferredLeaderNotAvailable : .eligibleLeadersNotAvailable, message: reason))
            case .elect(let next):
                // Deposing a leader (an unclean election) requires it to be gone.
                return .write(next, ifGone: current.leader >= 0 && next.leader != current.leader ? current.leader : nil)
            }
        }
    }
}
