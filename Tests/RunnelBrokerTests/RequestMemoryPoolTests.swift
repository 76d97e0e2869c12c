import NIOCore
import NIOEmbedded
import Testing
@testable import RunnelBroker

/// `queued.max.request.bytes`: the pool's accounting (Kafka's non-strict SimpleMemoryPool), and
/// connections that stop being read while it is exhausted and resume when bytes come back.
@Suite(.timeLimit(.minutes(1))) struct RequestMemoryPoolTests {
    @Test func aReservationSucceedsWhileAnyByteIsLeftAndWaitsOtherwise() {
        let pool = RequestMemoryPool(capacity: 100)
        #expect(pool.reserve(60, whenAvailable: {}) == .granted)
        // 40 left: a 150-byte request is still let in (overdraft), so it is never starved.
        #expect(pool.reserve(150, whenAvailable: {}) == .granted)
        #expect(pool.availableBytes == -110)
        let called = SharedCounter()
        guard case .waiting(let id) = pool.reserve(1, whenAvailable: { called.increment() }) else {
            Issue.record("an exhausted pool must refuse")
            return
        }
        pool.release(60)  // still -50: nobody is called
        #expect(called.value == 0 && pool.waiterCount == 1)
        pool.release(150)  // 100 left: the waiter is called once
        #expect(called.value == 1 && pool.waiterCount == 0)
        pool.cancelWait(id)  // harmless after the call
        #expect(pool.availableBytes == 100)
    }

    @Test func anUnboundedPoolAlwaysGrants() {
        let pool = RequestMemoryPool(capacity: -1)
        for _ in 0..<3 { #expect(pool.reserve(Int(Int32.max), whenAvailable: {}) == .granted) }
        #expect(pool.capacity == nil)
    }

    /// A connection's framing only: ReadGate and RequestFrameDecoder; frames reach the channel's
    /// inbound buffer, where the test reads them (nobody releases them but the test).
    func framingChannel(pool: RequestMemoryPool) async throws -> NIOAsyncTestingChannel {
        let channel = try await NIOAsyncTestingChannel { channel in
            let gate = ReadGate(pool: pool)
            try channel.pipeline.syncOperations.addHandler(gate)
            try channel.pipeline.syncOperations.addHandler(
                ByteToMessageHandler(RequestFrameDecoder(maxFrameSize: 1024, gate: gate, pool: pool)))
        }
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9092))
        return channel
    }

    func gateIsOpen(_ channel: NIOAsyncTestingChannel) async throws -> Bool {
        try await channel.testingEventLoop.executeInContext {
            try channel.pipeline.syncOperations.handler(type: ReadGate.self).isOpen
        }
    }

    func frame(size: Int, filledTo written: Int? = nil) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(size), endianness: .big)
        buffer.writeRepeatingByte(7, count: written ?? size)
        return buffer
    }

    @Test func aConnectionStopsReadingWhileThePoolIsExhaustedAndResumesWhenBytesComeBack() async throws {
        let pool = RequestMemoryPool(capacity: 100)
        let a = try await framingChannel(pool: pool)
        let b = try await framingChannel(pool: pool)

        // A announces a 150-byte request and sends 10 bytes of it: its size is reserved now,
        // before the body arrives, and takes the pool below zero.
        try await a.writeInbound(frame(size: 150, filledTo: 10))
        #expect(pool.availableBytes == -50)
        #expect(try await a.readInbound(as: ByteBuffer.self) == nil)

        // B's whole 10-byte request is refused: no frame, and B stops being read.
        try await b.writeInbound(frame(size: 10))
        #expect(try await b.readInbound(as: ByteBuffer.self) == nil)
        #expect(try await !gateIsOpen(b))
        #expect(pool.waiterCount == 1)

        // A's request completes and is processed: its bytes come back, B's frame (already
        // buffered, nothing more will arrive from B) is decoded, and B reads again.
        try await a.writeInbound(ByteBuffer(repeating: 7, count: 140))
        #expect(try await a.readInbound(as: ByteBuffer.self)?.readableBytes == 150)
        pool.release(150)
        var decoded: ByteBuffer?
        for _ in 0..<10_000 where decoded == nil {
            await b.testingEventLoop.run()
            decoded = try await b.readInbound(as: ByteBuffer.self)
            if decoded == nil { try await Task.sleep(for: .milliseconds(1)) }
        }
        #expect(decoded?.readableBytes == 10)
        #expect(try await gateIsOpen(b))
        #expect(pool.availableBytes == 90, "B's request holds its 10 bytes until processed")

        // A closes in the middle of a request: the part-received request's bytes come back.
        try await a.writeInbound(frame(size: 50, filledTo: 1))
        #expect(pool.availableBytes == 40)
        _ = try await a.finish(acceptAlreadyClosed: true)
        await a.testingEventLoop.run()
        #expect(await eventually { pool.availableBytes == 90 })
        pool.release(10)
        _ = try await b.finish(acceptAlreadyClosed: true)
        await b.testingEventLoop.run()
        #expect(await eventually { pool.availableBytes == 100 })
    }
}
