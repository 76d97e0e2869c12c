import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// An etcd v3 client over etcd's JSON gateway (`POST /v3/...` on the client port), the only
/// coordination engine Runnel uses: reads, compare-and-swap transactions, leases and watches.
///
/// Why the gateway and not gRPC: the handful of calls Runnel needs are plain HTTP/1.1 POSTs
/// with JSON bodies, and a watch is one streaming response, so one HTTP client does it all;
/// gRPC would bring swift-protobuf, an HTTP/2 stack and code generated from etcd's protos.
///
/// Endpoints are tried in order; the client stays with the last one that answered and moves on
/// when no connection to it can be made. A call that failed after its connection was made may
/// have been applied: it is not sent again but fails with `.indeterminate` (re-read, then
/// decide), since a retried transaction whose first attempt landed would look failed.
///
/// Thread-safety: immutable but for the index of the endpoint in use (under a Mutex); every
/// method may be called from any task.
public final class EtcdClient: Sendable {
    /// Base URLs, e.g. `http://127.0.0.1:2379`.
    public let endpoints: [String]
    private let http: HTTPClient
    private let current = Mutex(0)
    private let requestTimeout: TimeAmount

    /// The largest answer a read may bring back.
    static let maxResponseBytes = 64 * 1024 * 1024

    public init(endpoints: [String], requestTimeout: TimeAmount = .seconds(5)) {
        precondition(!endpoints.isEmpty, "an etcd client needs at least one endpoint")
        self.endpoints = endpoints
        self.requestTimeout = requestTimeout
        http = Self.sharedHTTP
    }

    /// One HTTP client for every EtcdClient of the process, never shut down (like
    /// `HTTPClient.shared`, so a dropped EtcdClient never leaks or traps), with a short connect
    /// timeout: a refused or silent endpoint costs a second, then the next one is tried
    /// (connection attempts are retried with backoff until then).
    private static let sharedHTTP: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(1)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    // MARK: Keys

    /// The key, if it exists, and the store's revision at the read.
    public func get(_ key: String) async throws -> (value: EtcdKeyValue?, revision: Int64) {
        let response = try await call("/v3/kv/range", ["key": EtcdJSON.bytes(key)])
        return (EtcdJSON.keyValues(response).first, EtcdJSON.revision(response))
    }

    /// Every key starting with `prefix`, in key order, and the store's revision at the read
    /// (watch from the next one to see every later change).
    public func get(prefix: String) async throws -> (values: [EtcdKeyValue], revision: Int64) {
        let response = try await call(
            "/v3/kv/range", ["key": EtcdJSON.bytes(prefix), "range_end": EtcdJSON.bytes(EtcdJSON.prefixEnd(prefix))])
        return (EtcdJSON.keyValues(response), EtcdJSON.revision(response))
    }

    /// Writes the key unconditionally; returns the store's revision after the write.
    @discardableResult
    public func put(_ key: String, value: [UInt8], lease: Int64 = 0) async throws -> Int64 {
        var body: EtcdJSON.Object = ["key": EtcdJSON.bytes(key), "value": EtcdJSON.bytes(value)]
        if lease != 0 { body["lease"] = String(lease) }
        return EtcdJSON.revision(try await call("/v3/kv/put", body))
    }

    /// Deletes the key; returns how many keys were deleted (0 or 1).
    @discardableResult
    public func delete(_ key: String) async throws -> Int64 {
        EtcdJSON.int64(try await call("/v3/kv/deleterange", ["key": EtcdJSON.bytes(key)])["deleted"])
    }

    /// Runs `then` if every compare holds, else `otherwise`, atomically.
    public func transaction(
        if compares: [EtcdCompare], then operations: [EtcdOperation], else otherwise: [EtcdOperation] = []
    ) async throws -> EtcdTransactionResult {
        let body: EtcdJSON.Object = [
            "compare": compares.map(Self.json),
            "success": operations.map(Self.json),
            "failure": otherwise.map(Self.json),
        ]
        let response = try await call("/v3/kv/txn", body)
        let reads = (response["responses"] as? [EtcdJSON.Object] ?? []).compactMap { answer -> [EtcdKeyValue]? in
            guard let range = answer["response_range"] as? EtcdJSON.Object else { return nil }
            return EtcdJSON.keyValues(range)
        }
        // A failed transaction leaves `succeeded` out (false is the default).
        return EtcdTransactionResult(
            succeeded: response["succeeded"] as? Bool ?? false, revision: EtcdJSON.revision(response), reads: reads)
    }

    // MARK: Leases

    /// A new lease of at least `ttlSeconds` (etcd may grant more, never less).
    public func grantLease(ttlSeconds: Int64) async throws -> EtcdLease {
        let response = try await call("/v3/lease/grant", ["TTL": String(ttlSeconds), "ID": "0"])
        let lease = EtcdLease(id: EtcdJSON.int64(response["ID"]), ttlSeconds: EtcdJSON.int64(response["TTL"]))
        guard lease.id != 0, lease.ttlSeconds > 0 else {
            throw EtcdError(.invalidResponse, "lease grant answered no lease: \(response)")
        }
        return lease
    }

    /// Renews the lease for its full TTL. Returns the TTL granted, or nil if the lease no
    /// longer exists (it expired or was revoked: its keys are gone).
    public func keepAlive(_ id: Int64) async throws -> Int64? {
        // A streaming call in etcd's API; through the gateway one request object gets one
        // `{"result": ...}` answer, and the stream ends with the request body.
        let response = try await call("/v3/lease/keepalive", ["ID": String(id)])
        guard let result = response["result"] as? EtcdJSON.Object else {
            throw EtcdJSON.error(response["error"] as? EtcdJSON.Object ?? response)
                ?? EtcdError(.invalidResponse, "keep-alive answered \(response)")
        }
        let ttl = EtcdJSON.int64(result["TTL"])
        return ttl > 0 ? ttl : nil
    }

    /// Ends the lease now: its keys are deleted at once.
    public func revokeLease(_ id: Int64) async throws {
        _ = try await call("/v3/lease/revoke", ["ID": String(id)])
    }

    // MARK: Transport

    /// One unary call: POSTs `body`, returns the answer's JSON object, or throws etcd's error.
    func call(_ path: String, _ body: EtcdJSON.Object) async throws -> EtcdJSON.Object {
        let response = try await send(path, try EtcdJSON.encode(body), deadline: .now() + requestTimeout)
        let bytes = try await response.body.collect(upTo: Self.maxResponseBytes)
        // A streaming call's answer is newline-delimited objects; unary callers want the first.
        let text = Array(bytes.readableBytesView)
        let firstLine = text.split(separator: UInt8(ascii: "\n"), maxSplits: 1).first.map(Array.init) ?? []
        let object = try EtcdJSON.decode(Data(firstLine))
        guard response.status == .ok else {
            throw EtcdJSON.error(object) ?? EtcdError(.server(code: -1), "\(path) answered HTTP \(response.status.code)")
        }
        return object
    }

    /// POSTs to the endpoint in use, moving on to the next ones when it cannot be reached.
    func send(_ path: String, _ body: Data, deadline: NIODeadline) async throws -> HTTPClientResponse {
        let first = current.withLock { $0 }
        var failures: [String] = []
        for attempt in 0..<endpoints.count {
            let index = (first + attempt) % endpoints.count
            var request = HTTPClientRequest(url: endpoints[index] + path)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
            do {
                let response = try await http.execute(request, deadline: deadline)
                if attempt > 0 { current.withLock { $0 = index } }
                return response
            } catch is CancellationError {
                throw CancellationError()
            } catch where Self.neverConnected(error) {
                failures.append("\(endpoints[index]): \(error)")
            } catch {
                // The request may have reached etcd: sending it again could apply it twice (or
                // make a transaction that succeeded look failed), so the caller re-reads instead.
                throw EtcdError(.indeterminate, "\(path) to \(endpoints[index]) may or may not have been applied: \(error)")
            }
        }
        throw EtcdError(.unavailable, "no etcd endpoint answered \(path): \(failures.joined(separator: "; "))")
    }

    /// Whether `error` means no connection to the endpoint was made, so the request was never
    /// sent and another endpoint may be tried.
    private static func neverConnected(_ error: any Error) -> Bool {
        if let error = error as? HTTPClientError { return error == .connectTimeout }
        if error is NIOConnectionError { return true }
        if let error = error as? ChannelError, case .connectTimeout = error { return true }
        if let error = error as? IOError {
            return [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, ECONNRESET, EADDRNOTAVAIL].contains(error.errnoCode)
        }
        return false
    }

    private static func json(_ compare: EtcdCompare) -> EtcdJSON.Object {
        switch compare {
        case .modRevision(let key, let revision):
            ["target": "MOD", "result": "EQUAL", "key": EtcdJSON.bytes(key), "mod_revision": String(revision)]
        case .createRevision(let key, let revision):
            ["target": "CREATE", "result": "EQUAL", "key": EtcdJSON.bytes(key), "create_revision": String(revision)]
        case .value(let key, let value):
            ["target": "VALUE", "result": "EQUAL", "key": EtcdJSON.bytes(key), "value": EtcdJSON.bytes(value)]
        }
    }

    private static func json(_ operation: EtcdOperation) -> EtcdJSON.Object {
        switch operation {
        case .put(let key, let value, let lease):
            var put: EtcdJSON.Object = ["key": EtcdJSON.bytes(key), "value": EtcdJSON.bytes(value)]
            if lease != 0 { put["lease"] = String(lease) }
            return ["request_put": put]
        case .delete(let key):
            return ["request_delete_range": ["key": EtcdJSON.bytes(key)]]
        case .deletePrefix(let prefix):
            return ["request_delete_range": ["key": EtcdJSON.bytes(prefix), "range_end": EtcdJSON.bytes(EtcdJSON.prefixEnd(prefix))]]
        case .get(let key):
            return ["request_range": ["key": EtcdJSON.bytes(key)]]
        }
    }
}
