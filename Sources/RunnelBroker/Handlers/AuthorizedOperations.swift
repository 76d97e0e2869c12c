/// The `authorized_operations` bit fields of Metadata, DescribeCluster, DescribeGroups and
/// ConsumerGroupDescribe (KIP-430): bit n set means the caller may perform Kafka's
/// `AclOperation` with code n on the resource.
///
/// The broker has no authorizer yet (the security issue brings ACLs), and Kafka without an
/// authorizer answers every operation the resource type supports (`AclEntry.supportedOperations`),
/// which is what these fields say here. A request that did not ask for them gets Kafka's
/// "not requested" value, `Int32.min`.
enum AuthorizedOperations {
    /// Kafka's `AclOperation` codes.
    enum Operation: Int32 {
        case read = 3, write = 4, create = 5, delete = 6, alter = 7, describe = 8, clusterAction = 9
        case describeConfigs = 10, alterConfigs = 11, idempotentWrite = 12
    }

    static let notRequested = Int32.min

    static let topic = bitField([.read, .write, .create, .describe, .delete, .alter, .describeConfigs, .alterConfigs])
    static let group = bitField([.read, .describe, .delete, .describeConfigs, .alterConfigs])
    static let cluster = bitField([.create, .clusterAction, .describeConfigs, .alterConfigs, .idempotentWrite, .alter, .describe])

    static func topic(requested: Bool) -> Int32 { requested ? topic : notRequested }
    static func group(requested: Bool) -> Int32 { requested ? group : notRequested }
    static func cluster(requested: Bool) -> Int32 { requested ? cluster : notRequested }

    private static func bitField(_ operations: [Operation]) -> Int32 {
        operations.reduce(0) { $0 | (1 << $1.rawValue) }
    }
}
