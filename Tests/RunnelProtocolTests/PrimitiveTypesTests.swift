import NIOCore
import RunnelProtocol
import Testing

@Suite struct PrimitiveTypesTests {
    @Test func unsignedVarintKnownEncodings() throws {
        let cases: [(UInt32, [UInt8])] = [
            (0, [0x00]), (1, [0x01]), (127, [0x7F]), (128, [0x80, 0x01]), (300, [0xAC, 0x02]),
            (UInt32.max, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
        ]
        for (value, bytes) in cases {
            var buffer = ByteBuffer()
            buffer.writeUnsignedVarint(value)
            #expect(Array(buffer.readableBytesView) == bytes)
            #expect(try buffer.readUnsignedVarint() == value)
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test func zigzagVarintsRoundTripAtBoundaries() throws {
        let ints: [Int32] = [0, -1, 1, -64, 63, 64, -65, Int32.min, Int32.max, 12345, -12345]
        for value in ints {
            var buffer = ByteBuffer()
            buffer.writeVarint(value)
            #expect(buffer.readableBytes == VarintSize.zigzag(value))
            #expect(try buffer.readVarint() == value)
        }
        var known = ByteBuffer()
        known.writeVarint(-1)
        known.writeVarint(1)
        #expect(Array(known.readableBytesView) == [0x01, 0x02])
        let longs: [Int64] = [0, -1, 1, Int64.min, Int64.max, 1_700_000_000_000, -3_600_000]
        for value in longs {
            var buffer = ByteBuffer()
            buffer.writeVarlong(value)
            #expect(buffer.readableBytes == VarintSize.zigzag(value))
            #expect(try buffer.readVarlong() == value)
        }
    }

    @Test func truncatedAndOverlongVarintsThrow() {
        var truncated = ByteBuffer(bytes: [0x80, 0x80])
        #expect(throws: KafkaDecodingError(.truncated, "varint cut off after 2 bytes")) { try truncated.readUnsignedVarint() }
        var overlong = ByteBuffer(bytes: [0x80, 0x80, 0x80, 0x80, 0x80, 0x01])
        let error = #expect(throws: KafkaDecodingError.self) { try overlong.readVarint() }
        #expect(error?.code == .invalidVarint)
        var tooWide = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x1F])
        #expect(throws: KafkaDecodingError.self) { try tooWide.readUnsignedVarint() }
        var longOverflow = ByteBuffer(bytes: [UInt8](repeating: 0xFF, count: 9) + [0x02])
        #expect(throws: KafkaDecodingError.self) { try longOverflow.readVarlong() }
        #expect(longOverflow.readerIndex == 0, "a failed read consumes nothing")
    }

    @Test(arguments: [false, true])
    func stringsAndBytesRoundTrip(compact: Bool) throws {
        var buffer = ByteBuffer()
        buffer.writeKafkaString("runnel", compact: compact)
        buffer.writeKafkaNullableString(nil, compact: compact)
        buffer.writeKafkaString("", compact: compact)
        buffer.writeKafkaString("ünïcödé", compact: compact)
        buffer.writeKafkaNullableBytes(ByteBuffer(bytes: [1, 2, 3]), compact: compact)
        buffer.writeKafkaNullableBytes(nil, compact: compact)
        buffer.writeKafkaArrayCount(nil, compact: compact)
        buffer.writeKafkaArrayCount(1, compact: compact)
        buffer.writeKafkaInteger(Int8(7))
        #expect(try buffer.readKafkaString(compact: compact) == "runnel")
        #expect(try buffer.readKafkaNullableString(compact: compact) == nil)
        #expect(try buffer.readKafkaString(compact: compact) == "")
        #expect(try buffer.readKafkaString(compact: compact) == "ünïcödé")
        #expect(try buffer.readKafkaNullableBytes(compact: compact) == ByteBuffer(bytes: [1, 2, 3]))
        #expect(try buffer.readKafkaNullableBytes(compact: compact) == nil)
        #expect(try buffer.readKafkaArrayCount(compact: compact) == nil)
        #expect(try buffer.readKafkaArrayCount(compact: compact) == 1)
        #expect(try buffer.readKafkaInteger(as: Int8.self) == 7)
        #expect(buffer.readableBytes == 0)
    }

    @Test func classicEncodingsAreKafkas() {
        var buffer = ByteBuffer()
        buffer.writeKafkaString("ab", compact: false)
        buffer.writeKafkaNullableString(nil, compact: false)
        buffer.writeKafkaString("ab", compact: true)
        buffer.writeKafkaNullableString(nil, compact: true)
        buffer.writeKafkaNullableBytes(nil, compact: false)
        #expect(Array(buffer.readableBytesView) == [0, 2, 0x61, 0x62, 0xFF, 0xFF, 3, 0x61, 0x62, 0, 0xFF, 0xFF, 0xFF, 0xFF])
    }

    @Test func hostileLengthsThrowInsteadOfAllocating() {
        var negative = ByteBuffer(bytes: [0xFF, 0xFE, 0x61])
        #expect((try? negative.readKafkaString(compact: false)) == nil)
        var absurd = ByteBuffer(bytes: [0x7F, 0xFF, 0xFF, 0xFF, 1, 2, 3])
        let error = #expect(throws: KafkaDecodingError.self) { try absurd.readKafkaNullableBytes(compact: false) }
        #expect(error?.code == .invalidLength)
        var absurdArray = ByteBuffer(bytes: [0x7F, 0xFF, 0xFF, 0xFF])
        #expect(throws: KafkaDecodingError.self) { try absurdArray.readKafkaArrayCount(compact: false) }
        var compactAbsurd = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F])
        #expect(throws: KafkaDecodingError.self) { try compactAbsurd.readKafkaArrayCount(compact: true) }
        var nullInNonNullable = ByteBuffer(bytes: [0xFF, 0xFF])
        let nullError = #expect(throws: KafkaDecodingError.self) { try nullInNonNullable.readKafkaString(compact: false) }
        #expect(nullError?.code == .unexpectedNull)
        var badUTF8 = ByteBuffer(bytes: [0x00, 0x02, 0xC3, 0x28])
        let utf8Error = #expect(throws: KafkaDecodingError.self) { try badUTF8.readKafkaString(compact: false) }
        #expect(utf8Error?.code == .invalidUTF8)
        var shortInt = ByteBuffer(bytes: [0, 0, 1])
        #expect(throws: KafkaDecodingError.self) { try shortInt.readKafkaInteger(as: Int32.self) }
    }

    @Test func uuidRoundTripAndText() throws {
        var generator = SystemRandomNumberGenerator()
        let id = KafkaUUID.random(using: &generator)
        var buffer = ByteBuffer()
        buffer.writeKafkaUUID(id)
        #expect(buffer.readableBytes == 16)
        #expect(try buffer.readKafkaUUID() == id)
        #expect(KafkaUUID(high: 0x0123_4567_89AB_CDEF, low: 0x0011_2233_4455_6677).description
            == "01234567-89ab-cdef-0011-223344556677")
        #expect(id.description.count == 36)
        #expect(id != KafkaUUID.random())
    }

    @Test func taggedFieldsRoundTripAndRejectDisorder() throws {
        var buffer = ByteBuffer()
        let fields = [TaggedField(tag: 0, data: ByteBuffer(bytes: [9])), TaggedField(tag: 300, data: ByteBuffer(bytes: [1, 2]))]
        buffer.writeTaggedFields(fields)
        buffer.writeTaggedFields([])
        #expect(try buffer.readTaggedFields() == fields)
        #expect(try buffer.readTaggedFields() == [])
        var disordered = ByteBuffer(bytes: [2, 5, 0, 3, 0])
        let error = #expect(throws: KafkaDecodingError.self) { try disordered.readTaggedFields() }
        #expect(error?.code == .invalidValue)
        var overrun = ByteBuffer(bytes: [1, 0, 10, 1])
        #expect(throws: KafkaDecodingError.self) { try overrun.readTaggedFields() }
    }
}
