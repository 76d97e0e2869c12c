import Foundation
import NIOCore
import NIOEmbedded
import RunnelProtocol
@testable import RunnelBroker
@testable import RunnelStorage
import Testing

/// One connection's behaviour: answers leave in request order whatever order `.later`
/// outcomes finish in; closing the connection cancels its requests' tasks (a long poll stops
/// waiting); every request's bytes go back to the memory pool; an answer too large for a frame
/// closes the connection instead of trapping.
@Suite(.timeLimit(.minutes(1))) struct KafkaConnectionHandlerTests {
    @Test func laterAnswersFinishingOutOfOrderStillLeaveInRequestOrder() async throws {
        let processor = ScriptedProcessor()
        let connection = try await ConnectionFixture(processor: processor)
        // 1 and 2 wait; 3 answers at once but must not overtake them; 4 waits too.
        try await connection.send(ScriptedRequest.frame(1, .later))
        try await connection.send(ScriptedRequest.frame(2, .later))
        try await connection.send(ScriptedRequest.frame(3, .now))
        try await connection.send(ScriptedRequest.frame(4, .later))
        await connection.channel.testingEventLoop.run()
        #expect(try await connection.answers() == [])

        processor.open(4)
        processor.open(2)
        // 2 and 4 are done and 3 was answered, but 1 holds them all back.
        #expect(await connection.pump { processor.latersAnswered.value == 2 })
        #expect(try await connection.answers() == [], "nothing may overtake request 1")

        processor.open(1)
        #expect(try await connection.pump { try await connection.answers().count == 4 })
        #expect(try await connection.answers() == [1, 2, 3, 4])
        #expect(await connection.pump { connection.pool.availableBytes == 1 << 20 }, "every request's bytes went back to the pool")
        _ = try await connection.channel.finish(acceptAlreadyClosed: true)
    }

    @Test func closingTheConnectionCancelsItsLongPoll() async throws {
        let processor = ScriptedProcessor()
        let connection = try await ConnectionFixture(processor: processor)
        try await connection.send(ScriptedRequest.frame(1, .longPoll))
        #expect(await connection.pump { processor.waitingRoom.waitingFetches == 1 })

        try await connection.channel.close()
        // The hour-long wait ends because its task was cancelled, not because anything arrived.
        #expect(await connection.pump { processor.longPollsEnded.value == 1 })
        #expect(processor.longPollsCancelled.value == 1)
        #expect(processor.waitingRoom.waitingFetches == 0)
        #expect(await connection.pump { connection.pool.availableBytes == 1 << 20 })
    }

    @Test func framesQueuedBehindAClosedConnectionGiveTheirBytesBack() async throws {
        let processor = ScriptedProcessor()
        let connection = try await ConnectionFixture(processor: processor)
        // The first long-polls, the next nine queue behind it, holding their frames' bytes.
        try await connection.send(ScriptedRequest.frame(1, .longPoll))
        for id in Int32(2)...10 { try await connection.send(ScriptedRequest.frame(id, .now)) }
        #expect(await connection.pump { processor.waitingRoom.waitingFetches == 1 })
        #expect(connection.pool.availableBytes == (1 << 20) - 10 * ScriptedRequest.frameSize)
        try await connection.channel.close()
        #expect(await connection.pump { connection.pool.availableBytes == 1 << 20 })
    }

    @Test func requestsAlreadyReadStillRunAfterTheConnectionCloses() async throws {
        let processor = ScriptedProcessor()
        let connection = try await ConnectionFixture(processor: processor)
        // An acks=0 producer (or a consumer committing on its way out) sends and closes: the
        // requests queued behind a long poll must still be handled, in order; a long poll
        // among them answers at once.
        try await connection.send(ScriptedRequest.frame(1, .longPoll))
        try await connection.send(ScriptedRequest.frame(2, .now, apiKey: 0))
        try await connection.send(ScriptedRequest.frame(3, .longPoll))
        try await connection.send(ScriptedRequest.frame(4, .now))
        #expect(await connection.pump { processor.waitingRoom.waitingFetches == 1 })
        #expect(processor.nowProcessed == [])

        try await connection.channel.close()
        #expect(await connection.pump { processor.nowProcessed.count == 2 })
        #expect(processor.nowProcessed == [2, 4])
        #expect(await connection.pump { processor.longPollsEnded.value == 2 })
        #expect(processor.longPollsCancelled.value == 2)
        #expect(await connection.pump { connection.pool.availableBytes == 1 << 20 })
        #expect(try await connection.answers() == [], "a closed connection is answered nothing")
    }

    @Test func anAnswerTooLargeForAFrameClosesTheConnectionWithoutTrapping() async throws {
        let directory = NSTemporaryDirectory() + "runnel-frame-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try LogFile(path: directory + "/00000000000000000000.log", create: true)
        // Two 1.5 GiB slices (never read: the frame is refused before any byte is written).
        let slice = FileSlice(file: file, position: 0, length: 3 << 29, firstOffset: 0, nextOffset: 1)
        let huge = KafkaResponse(correlationId: 1, headerVersion: 0, parts: [.file(slice), .file(slice)])
        let connection = try await ConnectionFixture(processor: FixedAnswer(response: huge))
        try await connection.send(ScriptedRequest.frame(1, .now))
        #expect(await connection.pump { !connection.channel.isActive })
        #expect(try await connection.answers() == [])
    }
}

/// Answers every request with the same response.
struct FixedAnswer: KafkaRequestProcessor {
    let response: KafkaResponse
    func process(frame: ByteBuffer, client: String) async -> RequestOutcome { .respond(response) }
}
