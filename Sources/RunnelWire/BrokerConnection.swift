import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RunnelProtocol

/// One TCP connection to one broker. Requests are pipelined: `send` writes a frame and awaits its
/// response while other requests are in flight on the same connection; responses are matched by
/// correlation id. After connecting it asks the broker which API versions it serves
/// (ApiVersions) and every later request uses the highest version both sides speak.
public final class BrokerConnection: Sendable {
    public let address: BrokerAddress
    let channel: any Channel
    let clientId: String
    /// The versions agreed with this broker, per API key.
    public let versions: NegotiatedVersions
    private let nextCorrelationId = NIOLockedValueBox<Int32>(0)
    private let requestTimeout: TimeAmount

    private init(address: BrokerAddress, channel: any Channel, clientId: String, versions: NegotiatedVersions, requestTimeout: TimeAmount) {
        self.address = address
        self.channel = channel
        self.clientId = clientId
        self.versions = versions
        self.requestTimeout = requestTimeout
    }

    /// Connects and negotiates API versions.
    public static func connect(
        to address: BrokerAddress, clientId: String, requestTimeout: TimeAmount = .seconds(30),
        connectTimeout: TimeAmount = .seconds(10), group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> BrokerConnection {
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(connectTimeout)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(KafkaFrameDecoder(maxFrameSize: Int(Int32.max))))
                        try channel.pipeline.syncOperations.addHandler(ResponseMatcher())
                    }
                }
                .connect(host: address.host, port: address.port).get()
        } catch {
            throw KafkaClientError.connectionFailed(address, String(describing: error))
        }
        let probe = BrokerConnection(address: address, channel: channel, clientId: clientId, versions: NegotiatedVersions(), requestTimeout: requestTimeout)
        do {
            let versions = try await probe.negotiateVersions()
            return BrokerConnection(address: address, channel: channel, clientId: clientId, versions: versions, requestTimeout: requestTimeout)
        } catch {
            channel.close(promise: nil)
            throw error
        }
    }

    /// ApiVersions v3 first (KIP-511); a broker that does not know v3 answers UNSUPPORTED_VERSION
    /// with its own ranges in a v0 body, and the request is repeated at v0.
    private func negotiateVersions() async throws -> NegotiatedVersions {
        var request = ApiVersionsRequest()
        request.clientSoftwareName = "runnel-swift"
        request.clientSoftwareVersion = "1.0"
        // A broker without v3 answers in a v0 body, which may not even parse as v3.
        var response: ApiVersionsResponse
        do {
            response = try await send(request, version: 3)
        } catch KafkaClientError.malformedResponse {
            response = ApiVersionsResponse(errorCode: KafkaErrorCode.unsupportedVersion.rawValue)
        }
        if KafkaErrorCode(rawValue: response.errorCode) == .unsupportedVersion {
            response = try await send(request, version: 0)
        }
        try KafkaClientError.check(response.errorCode, "ApiVersions")
        return NegotiatedVersions(broker: response.apiKeys.map { ($0.apiKey, $0.minVersion...$0.maxVersion) })
    }

    public var isActive: Bool { channel.isActive }

    public func close() async {
        try? await channel.close()
    }

    /// Sends `request` at the agreed version and returns the broker's response. `timeout`
    /// replaces `request.timeout.ms` for requests the broker may rightly hold longer (JoinGroup).
    public func send<Request: KafkaRequestMessage>(_ request: Request, timeout: TimeAmount? = nil) async throws -> Request.Response {
        try await send(request, version: versions.version(of: Request.self), timeout: timeout)
    }

    /// Sends `request` at `version` and returns the response.
    public func send<Request: KafkaRequestMessage>(_ request: Request, version: Int16, timeout: TimeAmount? = nil) async throws -> Request.Response {
        do {
            return try await write(request, version: version, timeout: timeout).get()
        } catch let error as KafkaClientError {
            throw error
        } catch {
            throw KafkaClientError.disconnected(address, String(describing: error))
        }
    }

    /// Writes `request` now, at the agreed version, and returns the future response. Requests
    /// written by one caller reach the broker in the order of the calls, which is what
    /// sequence numbers of an idempotent producer need.
    public func write<Request: KafkaRequestMessage>(_ request: Request) throws -> EventLoopFuture<Request.Response> {
        write(request, version: try versions.version(of: Request.self))
    }

    public func write<Request: KafkaRequestMessage>(_ request: Request, version: Int16, timeout: TimeAmount? = nil) -> EventLoopFuture<Request.Response> {
        let address = self.address
        return writeFrame(frame(request, version: version), expectsResponse: true, responseHeaderVersion: Request.responseHeaderVersion(version), timeout: timeout)
            .flatMapThrowing { body in
                var body = body
                do {
                    return try Request.Response(from: &body, version: version)
                } catch {
                    throw KafkaClientError.malformedResponse(address, "\(Request.Response.self) v\(version): \(error)")
                }
            }
    }

    /// Writes a request that the broker never answers (Produce with acks=0); the future
    /// completes once it is written.
    public func writeWithoutResponse<Request: KafkaRequestMessage>(_ request: Request) throws -> EventLoopFuture<Void> {
        let version = try versions.version(of: Request.self)
        return writeFrame(frame(request, version: version), expectsResponse: false, responseHeaderVersion: 0).map { _ in }
    }

    private func frame<Request: KafkaRequestMessage>(_ request: Request, version: Int16) -> (ByteBuffer, Int32) {
        let correlationId = nextCorrelationId.withLockedValue { id -> Int32 in
            id = id == Int32.max ? 0 : id + 1
            return id
        }
        var buffer = channel.allocator.buffer(capacity: 256)
        buffer.writeInteger(Int32(0))  // size, patched below
        let header = RequestHeader(requestApiKey: Request.apiKey, requestApiVersion: version, correlationId: correlationId, clientId: clientId)
        header.encode(to: &buffer, version: Request.requestHeaderVersion(version))
        request.encode(to: &buffer, version: version)
        buffer.setInteger(Int32(buffer.readableBytes - 4), at: buffer.readerIndex)
        return (buffer, correlationId)
    }

    private func writeFrame(_ frame: (ByteBuffer, Int32), expectsResponse: Bool, responseHeaderVersion: Int16, timeout: TimeAmount? = nil) -> EventLoopFuture<ByteBuffer> {
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        let outbound = ResponseMatcher.Outbound(
            frame: frame.0, correlationId: frame.1, expectsResponse: expectsResponse,
            responseHeaderVersion: responseHeaderVersion, promise: promise, timeout: timeout ?? requestTimeout)
        channel.writeAndFlush(outbound, promise: nil)
        return promise.futureResult
    }
}

/// Where a broker listens.
public struct BrokerAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` (`[v6]:port` too); the port defaults to Kafka's 9092.
    public init(parsing text: String) throws {
        var text = Substring(text)
        if let scheme = text.range(of: "://") { text = text[scheme.upperBound...] }
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            port = rest.hasPrefix(":") ? Int(rest.dropFirst()) ?? -1 : 9092
        } else if let colon = text.lastIndex(of: ":") {
            host = String(text[..<colon])
            port = Int(text[text.index(after: colon)...]) ?? -1
        } else {
            host = String(text)
            port = 9092
        }
        guard !host.isEmpty, (1...65535).contains(port) else { throw KafkaClientError.invalidConfiguration("bad broker address \"\(text)\"") }
    }

    /// A comma-separated bootstrap list, as in `bootstrap.servers`.
    public static func list(_ text: String) throws -> [BrokerAddress] {
        let addresses = try text.split(separator: ",").map { try BrokerAddress(parsing: $0.trimmingCharacters(in: .whitespaces)) }
        guard !addresses.isEmpty else { throw KafkaClientError.invalidConfiguration("no bootstrap servers given") }
        return addresses
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
