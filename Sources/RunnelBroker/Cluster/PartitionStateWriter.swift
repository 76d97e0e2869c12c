import RunnelCluster
import RunnelProtocol

/// Writes an operator's change to partition states (ElectLeaders, AlterPartitionReassignments):
/// each partition's new state is decided from the state read and written with a compare-and-set
/// on it, so it cannot undo a change the controller or a leader made meanwhile — a conflict
/// decides again on what is there now (up to `attempts` times: during a move the leader and
/// the controller write the same partition often). Answers once this broker has
/// applied the writes, so the caller's next Metadata shows them.
struct PartitionStateWriter: Sendable {
    let store: any MetadataStore
    let view: MetadataView

    struct Outcome: Sendable, Equatable {
        var code: KafkaErrorCode
        var message: String?
    }

    static let attempts = 10

    enum Decision: Sendable {
        /// Write this state; `ifGone` names a live-looking leader it deposes, which must be gone.
        case write(PartitionState, ifGone: Int32?)
        /// Nothing to write; answer this.
        case answer(Outcome)
    }

    func write(
        _ partitions: [TopicPartition], decide: (TopicPartition, PartitionState, MetadataImage) -> Decision
    ) async -> [TopicPartition: Outcome] {
        let image = view.image
        var outcomes: [TopicPartition: Outcome] = [:]
        var newest: Int64 = 0
        for partition in partitions {
            guard var current = image.partitions[partition] else {
                outcomes[partition] = Outcome(code: .unknownTopicOrPartition, message: "no such partition")
                continue
            }
            attempts: for _ in 0..<Self.attempts {
                switch decide(partition, current.state, image) {
                case .answer(let outcome):
                    outcomes[partition] = outcome
                case .write(let next, let deposed):
                    do {
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
