import NIOCore
import NIOEmbedded
import NIOTestUtils
import RunnelProtocol
import Testing

/// KafkaFrameDecoder (the broker's and the client's framing) under SwiftNIO's
/// ByteToMessageDecoderVerifier: whole frames, frames dripped a byte at a time, many frames in
/// one buffer, and leftovers at the end must all give the same frames.
@Suite struct KafkaFrameDecoderTests {
    func framed(_ payload: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(payload.count), endianness: .big)
        buffer.writeBytes(payload)
        return buffer
    }

    @Test func verifierAcceptsFramesFedEveryWay() throws {
        let payloads: [[UInt8]] = [
            [],  // an empty frame is a frame (the dispatcher refuses it, not the framing)
            [0x01],
            Array("a request body".utf8),
            Array(repeating: 0xAB, count: 4096),
            [0, 0, 0, 4],  // a body that looks like a size prefix
        ]
        let pairs = payloads.map { (framed($0), [ByteBuffer(bytes: $0)]) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { KafkaFrameDecoder(maxFrameSize: 1 << 20) }
    }

    @Test func aFrameAtTheLimitPassesAndOneByteMoreIsRefused() throws {
        let limit = 64
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(framed(Array(repeating: 7, count: limit)), [ByteBuffer(bytes: Array(repeating: 7, count: limit))])]
        ) { KafkaFrameDecoder(maxFrameSize: limit) }

        for size in [Int32(limit + 1), Int32.max, -1, Int32.min] {
            let channel = EmbeddedChannel(handler: ByteToMessageHandler(KafkaFrameDecoder(maxFrameSize: limit)))
            var bytes = ByteBuffer()
            bytes.writeInteger(size, endianness: .big)
            bytes.writeBytes([1, 2, 3])
            #expect(throws: KafkaFrameDecoder.InvalidFrameSize.self, "size \(size)") { try channel.writeInbound(bytes) }
            _ = try? channel.finish()
        }
    }

    @Test func aPartialFrameAtEndOfStreamIsDroppedNotEmitted() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(KafkaFrameDecoder(maxFrameSize: 1024)))
        var bytes = framed([1, 2, 3])
        bytes.writeInteger(Int32(100), endianness: .big)
        bytes.writeBytes([9, 9])  // 2 of the next frame's 100 bytes
        try channel.writeInbound(bytes)
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(bytes: [1, 2, 3]))
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        let leftOvers = try channel.finish()
        #expect(leftOvers.isClean, "nothing is emitted for the partial frame at EOF")
    }
}
