import Logging
import NIOCore
import RunnelProtocol
import Testing
@testable import RunnelBroker

@Suite struct RequestDispatcherTests {
    let dispatcher = RequestDispatcher(
        handlers: [AnyAPIHandler(ApiVersionsHandler(others: [(0, 0...11), (1, 4...12)]))], logger: Logger(label: "test"))

    func frame(apiKey: Int16, version: Int16, correlationId: Int32 = 7, body: [UInt8] = []) -> ByteBuffer {
        var buffer = ByteBuffer()
        RequestHeader(requestApiKey: apiKey, requestApiVersion: version, correlationId: correlationId, clientId: "t")
            .encode(to: &buffer, version: RequestHeader.version(apiKey: apiKey, apiVersion: version) ?? 1)
        buffer.writeBytes(body)
        return buffer
    }

    @Test func apiVersionsListsEveryHandlerWithoutTaggedFields() async throws {
        var request = ByteBuffer()
        ApiVersionsRequest(clientSoftwareName: "t", clientSoftwareVersion: "1").encode(to: &request, version: 3)
        let outcome = await dispatcher.process(frame: frame(apiKey: 18, version: 3).appending(request), client: "test")
        guard case .respond(let response) = outcome, case .bytes(var body) = response.parts.first else {
            Issue.record("expected a response, got \(outcome)")
            return
        }
        #expect(response.headerVersion == 0, "the ApiVersions response header is always v0")
        let sent = body
        let decoded = try ApiVersionsResponse(from: &body, version: 3)
        #expect(body.readableBytes == 0, "the body holds nothing after the response")
        #expect(decoded.apiKeys.map(\.apiKey) == [0, 1, 18])
        #expect(decoded.apiKeys[0].minVersion == 0 && decoded.apiKeys[0].maxVersion == 11)
        // librdkafka 2.0.2 cannot skip tagged fields: no feature fields (which are tagged) are
        // sent, so the body is byte for byte the plain encoding, ending with an empty tag section.
        #expect(decoded.supportedFeatures.isEmpty && decoded.finalizedFeatures.isEmpty)
        var reencoded = ByteBuffer()
        decoded.encode(to: &reencoded, version: 3)
        #expect(Array(sent.readableBytesView) == Array(reencoded.readableBytesView))
        #expect(sent.getInteger(at: sent.writerIndex - 1, as: UInt8.self) == 0, "an empty tagged-field section ends the body")
    }

    @Test func unsupportedApiVersionsVersionGetsV0WithError35() async throws {
        let outcome = await dispatcher.process(frame: frame(apiKey: 18, version: 77, correlationId: 99), client: "test")
        guard case .respond(let response) = outcome, case .bytes(var body) = response.parts.first else {
            Issue.record("expected a response")
            return
        }
        #expect(response.correlationId == 99)
        let decoded = try ApiVersionsResponse(from: &body, version: 0)
        #expect(decoded.errorCode == KafkaErrorCode.unsupportedVersion.rawValue)
        #expect(decoded.apiKeys.contains { $0.apiKey == 18 && $0.maxVersion == 4 })
    }

    @Test func unknownKeysUnsupportedVersionsAndTruncatedHeadersClose() async {
        for bad in [frame(apiKey: 999, version: 0), frame(apiKey: 1, version: 3), ByteBuffer(bytes: [0, 18, 0]),
                    ByteBuffer(bytes: [0, 18, 0, 0, 0, 0, 0, 1, 0x7F, 0xFF])] {
            guard case .close = await dispatcher.process(frame: bad, client: "test") else {
                Issue.record("expected the connection to close for \(Array(bad.readableBytesView))")
                continue
            }
        }
    }
}

extension ByteBuffer {
    func appending(_ other: ByteBuffer) -> ByteBuffer {
        var copy = self
        copy.writeImmutableBuffer(other)
        return copy
    }
}
