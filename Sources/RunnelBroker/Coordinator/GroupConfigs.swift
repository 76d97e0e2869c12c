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

    /// Every group's session timeout as the image says now: a snapshot, so the coordinator can
    /// use it under its own lock without taking the view's.
    func sessionTimeouts() -> @Sendable (String) -> Int64 {
        let overrides = view.image.groupConfigs
        return { [schema] groupId in schema.sessionTimeoutMs(overrides[groupId] ?? [:]) }
    }

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
