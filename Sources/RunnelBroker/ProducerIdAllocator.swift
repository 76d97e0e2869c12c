import RunnelCluster
import Synchronization

/// Hands out producer ids for InitProducerId, reserving them from the metadata store in blocks
/// so that ids stay unique across restarts without a disk write per producer.
final class ProducerIdAllocator: Sendable {
    static let blockSize: Int64 = 1000
    private let store: EmbeddedMetadataStore
    private let range = Mutex<(next: Int64, end: Int64)>((0, 0))

    init(store: EmbeddedMetadataStore) {
        self.store = store
    }

    func next() throws -> Int64 {
        try range.withLock { range in
            if range.next == range.end {
                let first = try store.allocateProducerIds(count: Self.blockSize)
                range = (first, first + Self.blockSize)
            }
            defer { range.next += 1 }
            return range.next
        }
    }
}
