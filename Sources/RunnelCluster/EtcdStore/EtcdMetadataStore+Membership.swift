import Foundation

/// Liveness: broker registrations under leases, and the controller election.
extension EtcdMetadataStore {
    public func register(_ registration: BrokerRegistration) async throws -> any BrokerLease {
        try await register(registration, ttlSeconds: leaseTTLSeconds)
    }

    /// Registers this broker under a new lease of `ttlSeconds` (etcd may grant more).
    ///
    /// The broker id must be free: a registration of another process (another incarnation)
    /// that is still there is waited for — up to its lease's TTL plus a second, so a broker
    /// that was SIGKILLed and restarted at once finds its old registration expired — and then
    /// refused: two live processes never share an id.
    public func register(_ registration: BrokerRegistration, ttlSeconds: Int64) async throws -> EtcdBrokerLease {
        let lease = try await EtcdBrokerLease.grant(client: client, ttlSeconds: ttlSeconds)
        let key = keys.broker(registration.brokerId)
        let deadline = ContinuousClock.now + .seconds(ttlSeconds + 1)
        while true {
            let result = try await client.transaction(
                if: [.createRevision(key: key, equals: 0)],
                then: [.put(key: key, value: Self.json(registration), lease: lease.id)],
                else: [.get(key: key)])
            if result.succeeded {
                lease.registered(at: result.revision)
                return lease
            }
            let held = result.reads.first?.first
            let holder = held.flatMap { try? JSONDecoder().decode(BrokerRegistration.self, from: Data($0.value)) }
            if let held, holder?.incarnation == registration.incarnation, held.lease != lease.id {
                // This very process registered before under a lease it counts as lost, but etcd
                // kept it (it revives leases when it restarts): move the registration to the new
                // lease in place — nobody saw this broker leave, so nothing moved — then end the
                // old lease (the key is no longer attached to it).
                let moved = try await client.transaction(
                    if: [.modRevision(key: key, equals: held.modRevision)],
                    then: [.put(key: key, value: Self.json(registration), lease: lease.id)])
                if moved.succeeded {
                    lease.registered(at: moved.revision)
                    try? await client.revokeLease(held.lease)
                    return lease
                }
                continue
            }
            guard ContinuousClock.now < deadline else {
                await lease.release()
                let who = holder.map { "\($0.host):\($0.port)" } ?? "an unknown process"
                throw ClusterMetadataError(
                    .unknownServerError,
                    "broker id \(registration.brokerId) is registered by another live broker (\(who)); refusing to start with the same id")
            }
            await waitForChange(until: min(deadline, ContinuousClock.now + .milliseconds(500)))
        }
    }

    /// Tries once to become the controller under `lease`. Returns the controller epoch (the
    /// create revision of the controller key, higher at every election) if this broker won,
    /// nil if another broker holds the key.
    public func campaign(brokerId: Int32, lease: EtcdBrokerLease) async throws -> Int64? {
        let result = try await client.transaction(
            if: [.createRevision(key: keys.controller, equals: 0)],
            then: [.put(key: keys.controller, value: Self.json(ControllerRecord(brokerId: brokerId)), lease: lease.id)])
        return result.succeeded ? result.revision : nil
    }

    /// The epoch of the current controller, if `brokerId` is it.
    public func controllerEpoch(of brokerId: Int32) -> Int64? {
        currentFacts().controller.flatMap { $0.brokerId == brokerId ? $0.epoch : nil }
    }

    /// Returns at the next image, or at `deadline`.
    private func waitForChange(until deadline: ContinuousClock.Instant) async {
        let updates = updates()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                var iterator = updates.makeAsyncIterator()
                _ = await iterator.next()  // the current image
                _ = await iterator.next()  // the next one
            }
            group.addTask { try? await Task.sleep(until: deadline) }
            await group.next()
            group.cancelAll()
        }
    }
}
