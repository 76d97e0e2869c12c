import RunnelCluster
import RunnelProtocol

/// ElectLeaders on this broker: each partition's election is decided by `ControllerLogic`
/// and written with a compare-and-set on the state it read, so it cannot undo a change the
/// controller made meanwhile (a conflict answers, and the client may ask again).
struct LeaderElections: Sendable {
    let store: any MetadataStore
    let view: MetadataView

    struct Outcome: Sendable, Equatable {
        var code: KafkaErrorCode
        var message: String?
    }

    /// Elects leaders of `partitions` (every partition when nil); answers once this broker
    /// has applied the elections, so the caller's next Metadata shows them.
    func elect(_ type: ControllerLogic.ElectionType, _ partitions: [TopicPartition]?) async -> [TopicPartition: Outcome] {
        let image = view.image
        let wanted = partitions ?? image.partitions.keys.sorted()
        var outcomes: [TopicPartition: Outcome] = [:]
        var newest: Int64 = 0
        for partition in wanted {
            guard var current = image.partitions[partition] else {
                outcomes[partition] = Outcome(code: .unknownTopicOrPartition, message: "no such partition")
                continue
            }
            // A conflict means the controller changed the partition meanwhile: decide again
            // on what is there now (a few times at most).
            attempts: for _ in 0..<3 {
                switch ControllerLogic.election(type, of: current.state, live: image.liveBrokerIds) {
                case .notNeeded:
                    outcomes[partition] = Outcome(code: .electionNotNeeded, message: "leader \(current.state.leader) needs no election")
                case .notPossible(let reason):
                    outcomes[partition] = Outcome(
                        code: type == .preferred ? .preferredLeaderNotAvailable : .eligibleLeadersNotAvailable, message: reason)
                case .elect(let next):
                    do {
                        // Deposing a leader (an unclean election) requires it to be gone.
                        let deposed = current.state.leader >= 0 && next.leader != current.state.leader ? current.state.leader : nil
                        switch try await store.compareAndSet(partition, expected: current.version, to: next, ifGone: deposed) {
                        case .committed(let revision):
                            newest = max(newest, revision)
                            outcomes[partition] = Outcome(code: .none)
                        case .conflict(let now?):
                            current = now
                            outcomes[partition] = Outcome(code: .unknownServerError, message: "the partition kept changing; try again")
                            continue attempts
                        case .conflict(nil):
                            outcomes[partition] = Outcome(code: .unknownTopicOrPartition, message: "the partition was deleted")
                        }
                    } catch {
                        outcomes[partition] = Outcome(code: .requestTimedOut, message: "\(error)")
                    }
                }
                break
            }
        }
        if newest > 0 { _ = await view.waitUntilApplied(newest) }
        return outcomes
    }
}
