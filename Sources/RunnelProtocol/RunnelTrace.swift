import NIOCore

/// RunnelTrace: Runnel's own request, not Kafka's, behind `runnel trace`. It asks one broker
/// what it knows of the record at an offset: the batch holding it (producer id, epoch, base
/// sequence), who produced it (client id, address, append time; known to the broker that led
/// the partition when it was appended) and, for each group this broker coordinates with a
/// committed offset on the partition, that offset and when it was committed. `runnel trace`
/// asks every broker and merges the answers.
///
/// Key 32700 is outside Kafka's range and never advertised in ApiVersions, so no Kafka client
/// sees it; a broker that is not Runnel closes the connection on it, as on any unknown key.
/// Version 0 only, never flexible (request header v1, response header v0). Hand-written: the
/// generator reads Kafka's JSON definitions only.
public struct RunnelTraceRequest: KafkaRequestMessage {
    public typealias Response = RunnelTraceResponse
    public static var apiKey: Int16 { 32700 }
    public static var validVersions: ClosedRange<Int16> { 0...0 }
    public static var flexibleVersions: PartialRangeFrom<Int16>? { nil }

    public var topic: String
    public var partition: Int32
    public var offset: Int64

    public init(topic: String = "", partition: Int32 = 0, offset: Int64 = 0) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        topic = try buffer.readKafkaString(compact: false)
        partition = try buffer.readKafkaInteger()
        offset = try buffer.readKafkaInteger()
    }

    public func encode(to buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafkaString(topic, compact: false)
        buffer.writeKafkaInteger(partition)
        buffer.writeKafkaInteger(offset)
    }
}

public struct RunnelTraceResponse: KafkaResponseMessage {
    public static var apiKey: Int16 { RunnelTraceRequest.apiKey }
    public static var validVersions: ClosedRange<Int16> { 0...0 }
    public static var flexibleVersions: PartialRangeFrom<Int16>? { nil }

    /// The batch holding the offset, as this broker's replica has it.
    public struct Batch: Sendable, Equatable {
        public var baseOffset: Int64
        public var lastOffset: Int64
        public var producerId: Int64
        public var producerEpoch: Int16
        public var baseSequence: Int32
        public var maxTimestamp: Int64

        public init(baseOffset: Int64, lastOffset: Int64, producerId: Int64, producerEpoch: Int16, baseSequence: Int32, maxTimestamp: Int64) {
            self.baseOffset = baseOffset
            self.lastOffset = lastOffset
            self.producerId = producerId
            self.producerEpoch = producerEpoch
            self.baseSequence = baseSequence
            self.maxTimestamp = maxTimestamp
        }
    }

    /// Who produced the batch, from the sidecar of the broker that appended it as leader.
    public struct Origin: Sendable, Equatable {
        public var clientId: String
        public var address: String
        public var appendTimeMs: Int64

        public init(clientId: String, address: String, appendTimeMs: Int64) {
            self.clientId = clientId
            self.address = address
            self.appendTimeMs = appendTimeMs
        }
    }

    /// A group's committed offset on the partition.
    public struct GroupCommit: Sendable, Equatable {
        public var groupId: String
        public var committedOffset: Int64
        public var commitTimestamp: Int64

        public init(groupId: String, committedOffset: Int64, commitTimestamp: Int64) {
            self.groupId = groupId
            self.committedOffset = committedOffset
            self.commitTimestamp = commitTimestamp
        }
    }

    /// NONE even when this broker knows nothing of the partition (it may still coordinate groups).
    public var errorCode: Int16
    public var errorMessage: String?
    public var batch: Batch?
    public var origin: Origin?
    public var groups: [GroupCommit]

    public init(errorCode: Int16 = 0, errorMessage: String? = nil, batch: Batch? = nil, origin: Origin? = nil, groups: [GroupCommit] = []) {
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.batch = batch
        self.origin = origin
        self.groups = groups
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        errorCode = try buffer.readKafkaInteger()
        errorMessage = try buffer.readKafkaNullableString(compact: false)
        batch = nil
        if try buffer.readKafkaBool() {
            batch = Batch(
                baseOffset: try buffer.readKafkaInteger(), lastOffset: try buffer.readKafkaInteger(), producerId: try buffer.readKafkaInteger(),
                producerEpoch: try buffer.readKafkaInteger(), baseSequence: try buffer.readKafkaInteger(), maxTimestamp: try buffer.readKafkaInteger())
        }
        origin = nil
        if try buffer.readKafkaBool() {
            origin = Origin(
                clientId: try buffer.readKafkaString(compact: false), address: try buffer.readKafkaString(compact: false),
                appendTimeMs: try buffer.readKafkaInteger())
        }
        let count = try buffer.readKafkaArrayCount(compact: false) ?? 0
        // Each entry takes at least 18 bytes: a count past what the frame holds is malformed.
        guard count <= buffer.readableBytes / 18 else { throw KafkaDecodingError(.invalidLength, "\(count) group commits in \(buffer.readableBytes) bytes") }
        groups = []
        for _ in 0..<count {
            groups.append(GroupCommit(
                groupId: try buffer.readKafkaString(compact: false), committedOffset: try buffer.readKafkaInteger(),
                commitTimestamp: try buffer.readKafkaInteger()))
        }
    }

    public func encode(to buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafkaInteger(errorCode)
        buffer.writeKafkaNullableString(errorMessage, compact: false)
        buffer.writeKafkaBool(batch != nil)
        if let batch {
            buffer.writeKafkaInteger(batch.baseOffset)
            buffer.writeKafkaInteger(batch.lastOffset)
            buffer.writeKafkaInteger(batch.producerId)
            buffer.writeKafkaInteger(batch.producerEpoch)
            buffer.writeKafkaInteger(batch.baseSequence)
            buffer.writeKafkaInteger(batch.maxTimestamp)
        }
        buffer.writeKafkaBool(origin != nil)
        if let origin {
            buffer.writeKafkaString(origin.clientId, compact: false)
            buffer.writeKafkaString(origin.address, compact: false)
            buffer.writeKafkaInteger(origin.appendTimeMs)
        }
        buffer.writeKafkaArrayCount(groups.count, compact: false)
        for group in groups {
            buffer.writeKafkaString(group.groupId, compact: false)
            buffer.writeKafkaInteger(group.committedOffset)
            buffer.writeKafkaInteger(group.commitTimestamp)
        }
    }

    public func forEachErrorCode(version: Int16, _ body: (Int16) -> Void) { body(errorCode) }
}
