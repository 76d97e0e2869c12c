import RunnelCluster

/// Hands out producer ids for InitProducerId, reserving them from the metadata store in blocks
/// (a compare-and-swap in etcd), so that ids stay unique across restarts and brokers without a
/// store write per producer. An actor: one refill at a time, shared by the callers waiting.
actor ProducerIdAllocator {
    static let blockSize: Int64 = 1000
    private let store: any MetadataStore
    private var range: (next: Int64, end: Int64) = (0, 0)
    private var refill: Task<Int64, any Error>?

    init(store: any MetadataStore) {
        self.store = store
    }

    func next() async throws -> Int64 {
        while range.next == range.end {
            let pending = refill ?? Task { [store] in try await store.allocateProducerIds(count: Self.blockSize) }
            refill = pending
            let first: Int64
            do {
                first = try await pending.value
            } catch {
                if refill == pending { refill = nil }
                throw error
            }
            // The first waiter back installs the block; the others find it installed.
            if refill == pending {
                refill = nil
                range = (first, first + Self.blockSize)
            }
        }
        defer { range.next += 1 }
        return range.next
    }
}
