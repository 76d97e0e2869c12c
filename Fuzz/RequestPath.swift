// libFuzzer target `request-path`: bytes as a client sends them on a connection, through the
// broker's frame decoder, request dispatcher and the body decoder of every API it serves.
// Built and run by tools/fuzz; see tools/README.md.
//
// The dispatcher is the broker's own `RequestDispatcher` with the broker's own registry of API
// keys and version ranges (taken from a real, never started `Broker`), but each handler is
// replaced by one that only decodes: no socket, file or log is touched while fuzzing.
//
// Beyond "no crash, no trap, no sanitizer report", every request that decodes must survive a
// round trip: encoding it at the same version and decoding that again gives the same bytes.

import Dispatch
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import RunnelProtocol
@testable import RunnelBroker

/// A handler that decodes its API's requests (through `AnyAPIHandler`, as the broker does) and
/// checks the round trip, then answers nothing.
struct DecodeOnlyHandler<Request: KafkaRequestMessage>: APIHandler {
    let versions: ClosedRange<Int16>

    func handle(_ request: Request, context: RequestContext) async -> HandlerReply<Request.Response> {
        let encoded = request.encoded(version: context.apiVersion)
        var again = encoded
        let decodedAgain: Request
        do {
            decodedAgain = try Request(from: &again, version: context.apiVersion)
        } catch {
            fatalError("\(Request.self) v\(context.apiVersion): our own encoding does not decode: \(error)")
        }
        guard again.readableBytes == 0 else {
            fatalError("\(Request.self) v\(context.apiVersion): \(again.readableBytes) bytes left after decoding our own encoding")
        }
        guard decodedAgain.encoded(version: context.apiVersion) == encoded else {
            fatalError("\(Request.self) v\(context.apiVersion): decode(encode(request)) encodes differently")
        }
        return .none
    }
}

/// The dispatcher under test, built once per process.
enum FuzzedBroker {
    /// The broker's maximum frame size (`socket.request.max.bytes`, default 100 MiB).
    static let maxFrameSize = BrokerConfig().socketRequestMaxBytes

    static let dispatcher: RequestDispatcher = {
        let logger = Logger(label: "fuzz.request-path", factory: { _ in SwiftLogNoOpLogHandler() })
        // A real broker, only to ask it which APIs and versions it registers. Its constructor
        // creates the metadata file in a scratch directory; nothing is started.
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("runnel-fuzz-request-\(ProcessInfo.processInfo.processIdentifier)").path
        var config = BrokerConfig()
        config.logDirs = [directory]
        let registered: [Int16: ClosedRange<Int16>]
        do {
            let broker = try Broker(config: config, logger: logger)
            registered = broker.makeDispatcher().handlers.mapValues(\.versions)
        } catch {
            fatalError("cannot construct a broker in \(directory): \(error)")
        }
        try? FileManager.default.removeItem(atPath: directory)
        let handlers = registered.sorted { $0.key < $1.key }.map { apiKey, versions in
            guard let api = KafkaAPI(key: apiKey) else { fatalError("the broker registers API key \(apiKey) without generated messages") }
            return decodeOnly(api.requestType, versions: versions)
        }
        return RequestDispatcher(handlers: handlers, logger: logger)
    }()

    /// One frame per registered (API key, version): a request with default field values, framed
    /// and headed as a client frames it. `tools/fuzz seeds` adds them to the captured corpus so
    /// that versions no captured client sent are reached too.
    static func registrySeeds() -> [(name: String, frame: ByteBuffer)] {
        dispatcher.handlers.values.sorted { $0.apiKey < $1.apiKey }.flatMap { handler in
            handler.versions.compactMap { version -> (name: String, frame: ByteBuffer)? in
                guard let api = KafkaAPI(key: handler.apiKey), let request = simplestRequest(api.requestType, version: version) else {
                    return nil
                }
                var body = ByteBuffer()
                let header = RequestHeader(
                    requestApiKey: handler.apiKey, requestApiVersion: version, correlationId: 1, clientId: "fuzz-seed")
                header.encode(to: &body, version: api.requestHeaderVersion(version))
                request.encode(to: &body, version: version)
                var frame = ByteBuffer()
                frame.writeInteger(Int32(body.readableBytes))
                frame.writeBuffer(&body)
                return ("registry-key\(handler.apiKey)-v\(version)", frame)
            }
        }
    }

    /// A request of `type` with empty strings and arrays: decoded from zeros (classic versions
    /// read them as empty) or from 0x01 bytes (compact lengths N+1 read them as empty).
    private static func simplestRequest(_ type: any KafkaRequestMessage.Type, version: Int16) -> (any KafkaRequestMessage)? {
        for fill: UInt8 in [0x00, 0x01] {
            var buffer = ByteBuffer(repeating: fill, count: 4096)
            if let request = try? type.init(from: &buffer, version: version) { return request }
        }
        return nil
    }

    private static func decodeOnly<Request: KafkaRequestMessage>(_: Request.Type, versions: ClosedRange<Int16>) -> AnyAPIHandler {
        AnyAPIHandler(DecodeOnlyHandler<Request>(versions: versions))
    }
}

/// Runs `body` to completion from libFuzzer's synchronous callback.
func runBlocking(_ body: @escaping @Sendable () async -> Void) {
    let done = DispatchSemaphore(value: 0)
    Task {
        await body()
        done.signal()
    }
    done.wait()
}

/// With RUNNEL_FUZZ_WRITE_SEEDS=<directory>, writes `FuzzedBroker.registrySeeds()` there first.
@_cdecl("LLVMFuzzerInitialize")
public func requestPathFuzzInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>) -> CInt {
    guard let directory = ProcessInfo.processInfo.environment["RUNNEL_FUZZ_WRITE_SEEDS"] else { return 0 }
    for seed in FuzzedBroker.registrySeeds() {
        let path = directory + "/" + seed.name
        guard FileManager.default.createFile(atPath: path, contents: Data(seed.frame.readableBytesView)) else {
            fatalError("cannot write \(path)")
        }
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func requestPathFuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let dispatcher = FuzzedBroker.dispatcher
    // The connection's pipeline: the frame decoder in front of the dispatcher.
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(KafkaFrameDecoder(maxFrameSize: FuzzedBroker.maxFrameSize)))
    var frames: [ByteBuffer] = []
    do {
        try channel.writeInbound(ByteBuffer(bytes: UnsafeBufferPointer(start: data, count: size)))
        while let frame = try channel.readInbound(as: ByteBuffer.self) { frames.append(frame) }
    } catch is KafkaFrameDecoder.InvalidFrameSize {
        // A frame size the broker refuses: the connection closes; frames before it were served.
        while let frame = try? channel.readInbound(as: ByteBuffer.self) { frames.append(frame) }
    } catch {
        fatalError("the frame decoder failed with an unexpected error: \(error)")
    }
    _ = try? channel.finish()
    guard !frames.isEmpty else { return 0 }
    let served = frames
    runBlocking {
        for frame in served {
            // The connection stops at the first request the broker closes it for.
            if case .close = await dispatcher.process(frame: frame, client: "fuzz") { break }
        }
    }
    return 0
}
