/// One key of etcd's store as a read or a watch event returns it.
public struct EtcdKeyValue: Sendable, Equatable {
    public var key: String
    public var value: [UInt8]
    /// The revision that created the key (0: the key does not exist). A key deleted and
    /// created again gets a new one: it names one incarnation of the key.
    public var createRevision: Int64
    /// The revision of the key's last change: what compare-and-swap writes compare.
    public var modRevision: Int64
    /// Changes since the key was created (1 after the creating put).
    public var version: Int64
    /// The lease the key is attached to (0: none); the key is deleted when the lease expires.
    public var lease: Int64

    public init(key: String, value: [UInt8], createRevision: Int64, modRevision: Int64, version: Int64, lease: Int64) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.lease = lease
    }
}

/// Why an etcd call failed.
public struct EtcdError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// No endpoint could be reached.
        case unavailable
        /// The request was sent but no answer came: it may or may not have been applied.
        case indeterminate
        /// etcd answered with an error (its gRPC status code).
        case server(code: Int)
        /// The answer was not what the gateway sends.
        case invalidResponse
        /// A watch ended because etcd compacted the revisions it still had to send: re-read the
        /// keys and watch again from the revision of that read.
        case compacted(revision: Int64)
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "etcd: \(message)" }
}

/// One condition of a transaction (etcd's `Compare`, always with result EQUAL).
public enum EtcdCompare: Sendable, Equatable {
    /// The key's last change was at this revision.
    case modRevision(key: String, equals: Int64)
    /// The key was created at this revision; 0 means the key does not exist.
    case createRevision(key: String, equals: Int64)
    /// The key holds exactly this value.
    case value(key: String, equals: [UInt8])
}

/// One operation of a transaction's branch.
public enum EtcdOperation: Sendable, Equatable {
    case put(key: String, value: [UInt8], lease: Int64 = 0)
    case delete(key: String)
    /// Deletes every key that starts with `prefix`.
    case deletePrefix(String)
    case get(key: String)
}

/// What a transaction did: which branch ran, at which revision, and what its reads found.
public struct EtcdTransactionResult: Sendable, Equatable {
    /// Every compare held, so the `then` branch ran.
    public var succeeded: Bool
    /// The store's revision after the transaction.
    public var revision: Int64
    /// The keys each `get` of the branch that ran found, in the order of the gets.
    public var reads: [[EtcdKeyValue]]
}

/// A granted lease: keys put with it are deleted when it expires.
public struct EtcdLease: Sendable, Equatable {
    public var id: Int64
    /// The TTL etcd granted, in whole seconds (etcd may raise what was asked for).
    public var ttlSeconds: Int64
}

/// What a watch reports.
public enum EtcdWatchEvent: Sendable, Equatable {
    case put(EtcdKeyValue)
    /// The key (with the revision of its deletion as `modRevision`) is gone.
    case delete(EtcdKeyValue)
}
