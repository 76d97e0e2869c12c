import NIOCore

/// Kafka's default key partitioner: `toPositive(murmur2(key)) % partitions`, exactly as the Java
/// client's `BuiltInPartitioner.partitionForKey` and librdkafka's `murmur2_random` partitioner
/// compute it, so a key lands in the same partition whichever client wrote it and per-key order
/// holds across clients.
public enum KeyPartitioner {
    /// Kafka's `Utils.murmur2`: MurmurHash2, seed 0x9747b28c, over the key's bytes.
    public static func murmur2(_ data: UnsafeRawBufferPointer) -> Int32 {
        let m: UInt32 = 0x5bd1_e995
        let length = data.count
        var h: UInt32 = 0x9747_b28c ^ UInt32(truncatingIfNeeded: length)
        var index = 0
        while index + 4 <= length {
            var k = UInt32(data[index]) | UInt32(data[index + 1]) << 8 | UInt32(data[index + 2]) << 16 | UInt32(data[index + 3]) << 24
            index += 4
            k = k &* m
            k ^= k >> 24
            k = k &* m
            h = h &* m
            h ^= k
        }
        switch length - index {
        case 3:
            h ^= UInt32(data[index + 2]) << 16
            fallthrough
        case 2:
            h ^= UInt32(data[index + 1]) << 8
            fallthrough
        case 1:
            h ^= UInt32(data[index])
            h = h &* m
        default:
            break
        }
        h ^= h >> 13
        h = h &* m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }

    public static func murmur2(_ bytes: [UInt8]) -> Int32 {
        bytes.withUnsafeBytes { murmur2($0) }
    }

    /// The partition for a key of these bytes among `partitions`.
    public static func partition(forKey key: UnsafeRawBufferPointer, partitions: Int) -> Int32 {
        precondition(partitions > 0)
        return (murmur2(key) & 0x7fff_ffff) % Int32(partitions)
    }

    public static func partition(forKey key: ByteBuffer, partitions: Int) -> Int32 {
        key.withUnsafeReadableBytes { partition(forKey: $0, partitions: partitions) }
    }

    public static func partition(forKey key: [UInt8], partitions: Int) -> Int32 {
        key.withUnsafeBytes { partition(forKey: $0, partitions: partitions) }
    }
}

/// Where a topic's records without a key go: the Java client's sticky partitioning (KIP-480).
/// All keyless records go to one partition until the batch being filled there is closed, then a
/// new partition is picked at random (never the same one twice in a row when there is a
/// choice), so keyless records make full batches instead of one small batch per partition.
struct StickyPartition {
    private var current: Int32?

    mutating func partition(among partitions: Int) -> Int32 {
        if let current, Int(current) < partitions { return current }
        let chosen = Int32.random(in: 0..<Int32(partitions))
        current = chosen
        return chosen
    }

    /// A batch was closed on `partition`: the next keyless record picks anew.
    mutating func batchClosed(partition: Int32, among partitions: Int) {
        guard current == partition, partitions > 1 else { return }
        var next = Int32.random(in: 0..<Int32(partitions - 1))
        if next >= partition { next += 1 }
        current = next
    }
}
