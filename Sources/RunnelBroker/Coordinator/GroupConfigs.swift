import RunnelCluster

/// Consumer groups' config overrides (KIP-848 group configs): read from the applied metadata
/// image, changed through the metadata store, so every broker — whichever coordinates the
/// group after a failover — sees the same values.
///
/// Concurrency: holds only immutable references; the image is read through `MetadataView`.
struct GroupConfigs: Sendable {
    let schema: GroupConfigSchema
    let store: any MetadataStore
    let view: MetadataView

    func overrides(of groupId: String) -> [String: String] { view.image.groupConfigs[groupId] ?? [:] }

    func sessionTimeoutMs(of groupId: String) -> Int64 { schema.sessionTimeoutMs(overrides(of: groupId)) }

    func heartbeatIntervalMs(of groupId: String) -> Int64 { schema.heartbeatIntervalMs(overrides(of: groupId)) }

    /// Validates and stores a group's whole set of overrides; returns once this broker applied it.
    func set(group groupId: String, to configs: [String: String], validateOnly: Bool) async throws {
        guard !groupId.isEmpty else { throw ClusterMetadataError(.invalidRequest, "a group config resource needs a group id") }
        if let problem = schema.validate(configs) { throw ClusterMetadataError(.invalidConfig, problem) }
        if validateOnly { return }
        let revision = try await store.setConfigs(group: groupId, to: configs)
        guard await view.waitUntilApplied(revision) else {
            throw ClusterMetadataError(.requestTimedOut, "the change was committed but this broker has not applied it yet")
        }
    }
}
