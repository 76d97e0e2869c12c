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
        /// For a follower whose last fetched epoch ended earlier here: where it did (v12+).
        var divergingEpoch: (epoch: Int32, endOffset: Int64)?
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
            if flexible {
                var fields: [TaggedField] = []
                if let diverging = partition.divergingEpoch {
                    // EpochEndOffset: epoch, end_offset, its own (empty) tagged fields.
                    var data = ByteBuffer()
                    data.writeKafkaInteger(diverging.epoch)
                    data.writeKafkaInteger(diverging.endOffset)
                    data.writeTaggedFields([])
                    fields.append(TaggedField(tag: 0, data: data))
                }
                current.writeTaggedFields(fields)
            }
        }
        if flexible { current.writeTaggedFields([]) }
    }

    /// The records field: a (compact) length, then the slice's bytes straight from the file.
    /// A slice longer than the field can describe goes out as no records: FetchHandler never
    /// passes one (its budget keeps the whole response within a frame), and a checked
    /// conversion here means a mistake elsewhere cannot become a trap.
    private mutating func writeRecords(_ slice: FileSlice?) {
        guard let slice, slice.length > 0, let length = Int32(exactly: slice.length), length < Int32.max else {
            current.writeKafkaNullableBytes(ByteBuffer(), compact: flexible)
            return
        }
        if flexible {
            current.writeUnsignedVarint(UInt32(length) + 1)
        } else {
            current.writeKafkaInteger(length)
        }
        parts.append(.bytes(current))
        parts.append(.file(slice))
        current = ByteBuffer()
    }

    /// An upper bound on the bytes of a response to `topics`, other than record data, at any
    /// version we serve: the response header and fixed fields, each topic's name and counts,
    /// each partition's fixed fields and records length. FetchHandler subtracts it from the
    /// largest frame to know how many record bytes the response can carry, without encoding
    /// the response twice.
    static func nonRecordBytesBound(topics: [(name: String, partitionCount: Int)]) -> Int {
        // Response header (5) + throttle_time_ms, error_code, session_id (10) + topics count
        // (at most 5) + tagged fields (1), rounded up.
        let responseFields = 32
        // Name length (at most 5 as a compact varint) + partitions count (at most 5) + tagged fields.
        let topicFields = 11
        // partition_index 4, error_code 2, high_watermark 8, last_stable_offset 8,
        // log_start_offset 8, aborted_transactions count 4, preferred_read_replica 4,
        // records length (at most 5) + tagged fields (at most 17 with a diverging epoch).
        let partitionFields = 60
        return topics.reduce(responseFields) { sum, topic in
            sum + topicFields + topic.name.utf8.count + topic.partitionCount * partitionFields
        }
    }

    private consuming func finish() -> [KafkaResponse.Part] {
        if current.readableBytes > 0 { parts.append(.bytes(current)) }
        return parts
    }
}
