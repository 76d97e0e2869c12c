import NIOCore
import RunnelProtocol
import RunnelStorage

/// Encodes a Fetch response (v4-v12) as body parts, so that each partition's records can be a
/// file slice sent with sendfile instead of bytes copied into the response. The field layout
/// follows FetchResponse.json; the generated `FetchResponse` is the reference in tests.
struct FetchResponseWriter {
    struct PartitionData {
        var partitionIndex: Int32
        var errorCode: KafkaErrorCode = .none
        var highWatermark: Int64 = -1
        var lastStableOffset: Int64 = -1
        var logStartOffset: Int64 = -1
        var records: FileSlice?
    }

    struct TopicData {
        var name: String
        var partitions: [PartitionData]
    }

    let version: Int16
    private var parts: [KafkaResponse.Part] = []
    private var current = ByteBuffer()

    init(version: Int16) {
        precondition((4...12).contains(version), "FetchResponseWriter writes v4-v12")
        self.version = version
    }

    private var flexible: Bool { version >= 12 }

    static func encode(version: Int16, topics: [TopicData], errorCode: KafkaErrorCode = .none) -> [KafkaResponse.Part] {
        var writer = FetchResponseWriter(version: version)
        writer.current.writeKafkaInteger(Int32(0))  // throttle_time_ms
        if version >= 7 {
            writer.current.writeKafkaInteger(errorCode.rawValue)
            writer.current.writeKafkaInteger(Int32(0))  // session_id: sessionless, clients send full fetches
        }
        writer.current.writeKafkaArrayCount(topics.count, compact: writer.flexible)
        for topic in topics { writer.write(topic) }
        if writer.flexible { writer.current.writeTaggedFields([]) }
        return writer.finish()
    }

    private mutating func write(_ topic: TopicData) {
        current.writeKafkaString(topic.name, compact: flexible)
        current.writeKafkaArrayCount(topic.partitions.count, compact: flexible)
        for partition in topic.partitions {
            current.writeKafkaInteger(partition.partitionIndex)
            current.writeKafkaInteger(partition.errorCode.rawValue)
            current.writeKafkaInteger(partition.highWatermark)
            current.writeKafkaInteger(partition.lastStableOffset)
            if version >= 5 { current.writeKafkaInteger(partition.logStartOffset) }
            current.writeKafkaArrayCount(nil, compact: flexible)  // aborted_transactions: none
            if version >= 11 { current.writeKafkaInteger(Int32(-1)) }  // preferred_read_replica
            writeRecords(partition.records)
            if flexible { current.writeTaggedFields([]) }
        }
        if flexible { current.writeTaggedFields([]) }
    }

    /// The records field: a (compact) length, then the slice's bytes straight from the file.
    private mutating func writeRecords(_ slice: FileSlice?) {
        guard let slice, slice.length > 0 else {
            current.writeKafkaNullableBytes(ByteBuffer(), compact: flexible)
            return
        }
        if flexible {
            current.writeUnsignedVarint(UInt32(slice.length + 1))
        } else {
            current.writeKafkaInteger(Int32(slice.length))
        }
        parts.append(.bytes(current))
        parts.append(.file(slice))
        current = ByteBuffer()
    }

    private consuming func finish() -> [KafkaResponse.Part] {
        if current.readableBytes > 0 { parts.append(.bytes(current)) }
        return parts
    }
}
