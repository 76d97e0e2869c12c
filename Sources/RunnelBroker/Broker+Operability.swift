import RunnelProtocol

extension Broker {
    /// In a cluster, why this broker is not yet ready to serve (`/readyz`), or nil: it must be
    /// registered, and in the ISR of every partition it holds that has a live leader to catch
    /// up from. Not behind: a replica being added by a reassignment (out of the ISR by design),
    /// and a partition whose leader is down, which no wait here can fix (after a full outage,
    /// brokers started one at a time must each become ready).
    static func caughtUp(
        nodeId: Int32, membership: ClusterMembership, view: MetadataView, replicas: ReplicaManager
    ) -> @Sendable () -> String? {
        {
            guard membership.mayLead() else { return "not registered in the cluster (no live metadata lease)" }
            let image = view.image
            let live = image.liveBrokerIds
            let behind = replicas.hostedPartitions.map(\.topicPartition).filter { partition in
                guard let state = image.partition(partition), state.leader != nodeId, live.contains(state.leader) else { return false }
                return !state.isr.contains(nodeId) && !state.addingReplicas.contains(nodeId)
            }
            guard !behind.isEmpty else { return nil }
            return "\(behind.count) partitions not yet in sync (\(behind.sorted().prefix(5).map(\.description).joined(separator: ", ")))"
        }
    }

    /// Where the scrape-time gauges read the broker's state.
    static func gaugeSources(
        nodeId: Int32, schema: TopicConfigSchema, view: MetadataView, replicas: ReplicaManager, groups: GroupCoordinatorRuntime,
        connections: ConnectionRegistry
    ) -> StateGauges.Sources {
        StateGauges.Sources(
            connections: { connections.count },
            waitingFetches: { replicas.waitingRoom.waitingFetches },
            partitions: { replicas.hostedPartitions },
            image: { StateGauges.MetadataImageFigures(view.image, brokerId: nodeId, schema: schema) },
            groups: {
                groups.listing.map { listed in
                    let committed = groups.committedOffsets(groupId: listed.groupId, partitions: nil)
                    return (listed.groupId, listed.state.rawValue, Dictionary(uniqueKeysWithValues: committed.map {
                        (TopicPartition(topic: $0.key.topic, partition: $0.key.partition), $0.value.offset)
                    }))
                }
            })
    }
}
