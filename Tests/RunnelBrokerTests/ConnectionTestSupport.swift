import Logging
import NIOCore
import NIOEmbedded
import RunnelProtocol
import Synchronization
@testable import RunnelBroker

/// A test request: `[api key: int16][correlation id: int32][what to do: UInt8]`. The api key
/// is where a real request has it (the connection treats Produce, key 0, differently at close);
/// the answer's body is the correlation id again, so the order of answers on the wire is easy
/// to read back.
enum ScriptedRequest: UInt8 {
    /// Answer at once.
    case now = 0
    /// Answer `.later`, when the test opens it (`ScriptedProcessor.open`).
    case later = 1
    /// Long-poll on the processor's fetch waiting room for an hour, then answer.
    case longPoll = 2

    /// The frame's size on the wire, without its length prefix.
    static let frameSize = 7
    /// ApiVersions: any request that is not a Produce.
    static let notProduce: Int16 = 18

    static func frame(_ correlationId: Int32, _ kind: ScriptedRequest, apiKey: Int16 = notProduce) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(frameSize), endianness: .big)
        buffer.writeInteger(apiKey, endianness: .big)
        buffer.writeInteger(correlationId, endianness: .big)
        buffer.writeInteger(kind.rawValue)
        return buffer
    }
}

/// Plays `ScriptedRequest`s; thread-safe (requests run on the channel's loop, the test opens
/// `.later` answers from its own task).
final class ScriptedProcessor: KafkaRequestProcessor {
    let waitingRoom = FetchWaitingRoom()
    private let laters = Mutex<(opened: Set<Int32>, waiting: [Int32: CheckedContinuation<Void, Never>])>(([], [:]))
    let longPollsEnded = SharedCounter()
    /// `.later` answers whose wait is over.
    let latersAnswered = SharedCounter()
    let longPollsCancelled = SharedCounter()
    /// The correlation ids of the `.now` requests processed, in order.
    private let processedNow = Mutex<[Int32]>([])
    var nowProcessed: [Int32] { processedNow.withLock { $0 } }

    func process(frame: ByteBuffer, client: String) async -> RequestOutcome {
        var frame = frame
        guard frame.readInteger(endianness: .big, as: Int16.self) != nil,
              let correlationId = frame.readInteger(endianness: .big, as: Int32.self),
              let kind = frame.readInteger(as: UInt8.self).flatMap(ScriptedRequest.init(rawValue:))
        else { return .close(reason: "not a scripted request") }
        switch kind {
        case .now:
            processedNow.withLock { $0.append(correlationId) }
            return Self.answer(correlationId)
        case .later:
            return .later {
                await self.waitUntilOpened(correlationId)
                self.latersAnswered.increment()
                return Self.answer(correlationId)
            }
        case .longPoll:
            await waitingRoom.wait(
                for: [TopicPartition(topic: "t", partition: 0)], timeout: .seconds(3600), seen: waitingRoom.appendCount)
            if Task.isCancelled { longPollsCancelled.increment() }
            longPollsEnded.increment()
            return Self.answer(correlationId)
        }
    }

    /// Lets the `.later` answer of `correlationId` go.
    func open(_ correlationId: Int32) {
        let waiter = laters.withLock { state -> CheckedContinuation<Void, Never>? in
            state.opened.insert(correlationId)
            return state.waiting.removeValue(forKey: correlationId)
        }
        waiter?.resume()
    }

    private func waitUntilOpened(_ correlationId: Int32) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let isOpen = laters.withLock { state in
                if state.opened.contains(correlationId) { return true }
                state.waiting[correlationId] = continuation
                return false
            }
            if isOpen { continuation.resume() }
        }
    }

    static func answer(_ correlationId: Int32) -> RequestOutcome {
        var body = ByteBuffer()
        body.writeInteger(correlationId, endianness: .big)
        return .respond(KafkaResponse(correlationId: correlationId, headerVersion: 0, body: body))
    }
}

/// One connection's pipeline as the broker builds it (ReadGate, RequestFrameDecoder,
/// KafkaConnectionHandler), on an NIOAsyncTestingChannel.
final class ConnectionFixture {
    let channel: NIOAsyncTestingChannel
    let pool: RequestMemoryPool
    private let received = Mutex(ByteBuffer())

    init(processor: any KafkaRequestProcessor, pool: RequestMemoryPool = RequestMemoryPool(capacity: 1 << 20)) async throws {
        let logger = Logger(label: "test")
        let registry = ConnectionRegistry(logger: logger)
        channel = try await NIOAsyncTestingChannel { channel in
            let gate = ReadGate(pool: pool)
            try channel.pipeline.syncOperations.addHandler(gate)
            try channel.pipeline.syncOperations.addHandler(
                ByteToMessageHandler(RequestFrameDecoder(maxFrameSize: 1 << 20, gate: gate, pool: pool)))
            try channel.pipeline.syncOperations.addHandler(
                KafkaConnectionHandler(processor: processor, registry: registry, gate: gate, pool: pool, logger: logger))
        }
        self.pool = pool
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9092))
    }

    func send(_ bytes: ByteBuffer) async throws {
        try await channel.writeInbound(bytes)
    }

    /// The correlation ids of the answers written so far, in wire order (runs the loop first).
    func answers() async throws -> [Int32] {
        await channel.testingEventLoop.run()
        while let data = try await channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let bytes) = data else { continue }
            received.withLock { $0.writeImmutableBuffer(bytes) }
        }
        var wire = received.withLock { $0 }
        var ids: [Int32] = []
        while let size = wire.readInteger(endianness: .big, as: Int32.self), let frame = wire.readSlice(length: Int(size)) {
            var frame = frame
            let header = frame.readInteger(endianness: .big, as: Int32.self)
            let body = frame.readInteger(endianness: .big, as: Int32.self)
            if let header, header == body { ids.append(header) }
        }
        return ids
    }

    /// Runs the channel's loop until `condition` holds, within a bounded time.
    func pump(_ condition: () async throws -> Bool) async rethrows -> Bool {
        for _ in 0..<20_000 {
            await channel.testingEventLoop.run()
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return false
    }
}
