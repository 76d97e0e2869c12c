import RunnelProtocol

/// The API versions a connection uses: for each API, the highest version that both this client
/// and the broker speak.
///
/// The client's ranges stop where a version changes what the client must do rather than only
/// what it encodes: Fetch v13+ and OffsetCommit/OffsetFetch with topic ids need topic ids, and
/// OffsetFetch v8+ batches groups. Staying below them lets the client talk to any broker that
/// speaks the classic protocol, not only Runnel.
public struct NegotiatedVersions: Sendable {
    static let clientRanges: [Int16: ClosedRange<Int16>] = [
        ProduceRequest.apiKey: 3...9,
        FetchRequest.apiKey: 4...12,
        ListOffsetsRequest.apiKey: 1...7,
        MetadataRequest.apiKey: 1...12,
        OffsetCommitRequest.apiKey: 2...8,
        OffsetFetchRequest.apiKey: 1...7,
        FindCoordinatorRequest.apiKey: 0...3,
        JoinGroupRequest.apiKey: 0...9,
        HeartbeatRequest.apiKey: 0...4,
        LeaveGroupRequest.apiKey: 0...5,
        SyncGroupRequest.apiKey: 0...5,
        DescribeGroupsRequest.apiKey: 0...5,
        ListGroupsRequest.apiKey: 0...4,
        ApiVersionsRequest.apiKey: 0...3,
        CreateTopicsRequest.apiKey: 2...7,
        DeleteTopicsRequest.apiKey: 1...6,
        DeleteRecordsRequest.apiKey: 0...2,
        InitProducerIdRequest.apiKey: 0...4,
        DescribeConfigsRequest.apiKey: 1...4,
        AlterConfigsRequest.apiKey: 0...2,
        IncrementalAlterConfigsRequest.apiKey: 0...1,
        CreatePartitionsRequest.apiKey: 0...3,
        DeleteGroupsRequest.apiKey: 0...2,
        OffsetDeleteRequest.apiKey: 0...0,
        AlterPartitionReassignmentsRequest.apiKey: 0...1,
        ListPartitionReassignmentsRequest.apiKey: 0...0,
        // v3+ names the asking replica (a follower truncating, or -2 for a consumer).
        OffsetForLeaderEpochRequest.apiKey: 3...4,
    ]

    private var agreed: [Int16: Int16] = [:]
    private var brokerRanges: [Int16: ClosedRange<Int16>] = [:]

    /// Before negotiation: ApiVersions only, at the version the caller names.
    init() {}

    init(broker: [(Int16, ClosedRange<Int16>)]) {
        for (key, range) in broker {
            brokerRanges[key] = range
            guard let ours = Self.clientRanges[key] else { continue }
            let high = min(ours.upperBound, range.upperBound)
            if high >= max(ours.lowerBound, range.lowerBound) { agreed[key] = high }
        }
    }

    /// The version to send `Request` at; throws when the broker speaks none the client does.
    public func version<Request: KafkaRequestMessage>(of request: Request.Type) throws -> Int16 {
        guard let version = agreed[Request.apiKey] else {
            let name = KafkaAPI(key: Request.apiKey)?.name ?? "API \(Request.apiKey)"
            throw KafkaClientError.unsupportedByBroker(name, brokerRanges[Request.apiKey])
        }
        return version
    }

    /// Whether the broker serves `Request` at all, at a version this client speaks.
    public func supports<Request: KafkaRequestMessage>(_ request: Request.Type) -> Bool {
        agreed[Request.apiKey] != nil
    }
}
