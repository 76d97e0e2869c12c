import NIOCore
import RunnelCodecs
import RunnelProtocol
import Testing

/// Every record of a produced batch is checked (`validateAsProduced`, `validateRecords`), the
/// way Kafka's LogValidator and DefaultRecord do: a batch whose CRC is right but whose records a
/// consumer could not read is refused, with the record at fault.
@Suite struct RecordValidationTests {
    // MARK: Building batches by hand

    /// One record's bytes; `length` overrides the length prefix, `body` the fields after it.
    static func record(
        offsetDelta: Int32, timestampDelta: Int64 = 0, key: [UInt8]? = nil, value: [UInt8]? = [1, 2, 3],
        headers: [(String, [UInt8]?)] = [], length: [UInt8]? = nil, extra: [UInt8] = []
    ) -> [UInt8] {
        var body = ByteBuffer()
        body.writeInteger(UInt8(0))
        body.writeVarlong(timestampDelta)
        body.writeVarint(offsetDelta)
        writeNullable(key, to: &body)
        writeNullable(value, to: &body)
        body.writeVarint(Int32(headers.count))
        for (name, value) in headers {
            body.writeVarint(Int32(name.utf8.count))
            body.writeString(name)
            writeNullable(value, to: &body)
        }
        body.writeBytes(extra)
        var out = ByteBuffer()
        if let length { out.writeBytes(length) } else { out.writeVarint(Int32(body.readableBytes)) }
        out.writeImmutableBuffer(body)
        return Array(out.readableBytesView)
    }

    static func writeNullable(_ bytes: [UInt8]?, to buffer: inout ByteBuffer) {
        guard let bytes else { return buffer.writeVarint(-1) }
        buffer.writeVarint(Int32(bytes.count))
        buffer.writeBytes(bytes)
    }

    static func varint(_ value: Int32) -> [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeVarint(value)
        return Array(buffer.readableBytesView)
    }

    /// A sealed (CRC-stamped) batch over `section`, compressed with `codec`, declaring `count`
    /// records (lastOffsetDelta count - 1).
    static func batch(
        section: [UInt8], count: Int32, codec: CompressionCodec = .none, attributes extraAttributes: Int16 = 0,
        producerId: Int64 = -1, baseSequence: Int32 = -1, baseTimestamp: Int64 = 1_700_000_000_000,
        maxTimestamp: Int64? = nil
    ) throws -> RecordBatch {
        let body = codec == .none ? section : try Compression.compress(section, codec: codec)
        var bytes = ByteBuffer()
        bytes.writeInteger(Int64(0))
        bytes.writeInteger(Int32(RecordBatchHeader.size - RecordBatchHeader.logOverhead + body.count))
        bytes.writeInteger(Int32(-1))
        bytes.writeInteger(RecordBatchHeader.currentMagic)
        bytes.writeInteger(UInt32(0))
        bytes.writeInteger(RecordBatchAttributes(compression: codec).rawValue | extraAttributes)
        bytes.writeInteger(count - 1)
        bytes.writeInteger(baseTimestamp)
        bytes.writeInteger(maxTimestamp ?? baseTimestamp)
        bytes.writeInteger(producerId)
        bytes.writeInteger(Int16(producerId < 0 ? -1 : 0))
        bytes.writeInteger(baseSequence)
        bytes.writeInteger(count)
        bytes.writeBytes(body)
        bytes.stampRecordBatchChecksum()
        return try RecordBatch(validating: bytes)
    }

    static let limits = RecordBatchLimits(maxMessageBytes: 1_048_588)

    /// The error of validating `batch` as produced, or nil when it passes.
    static func failure(_ batch: RecordBatch, limits: RecordBatchLimits = limits) -> RecordBatchError? {
        do {
            try batch.validateAsProduced()
            _ = try batch.validateRecords(limits: limits)
            return nil
        } catch {
            return error
        }
    }

    static let allCodecs = CompressionCodec.allCases

    // MARK: Well-formed batches pass

    @Test(arguments: allCodecs)
    func wellFormedBatchesPassAndReportTheirMaxTimestamp(codec: CompressionCodec) throws {
        let section = Self.record(offsetDelta: 0, timestampDelta: 5, key: [9], headers: [("h", [1]), ("n", nil)])
            + Self.record(offsetDelta: 1, timestampDelta: 40, key: [], value: nil)
            + Self.record(offsetDelta: 2, timestampDelta: 7, value: [])
        let batch = try Self.batch(section: section, count: 3, codec: codec, maxTimestamp: 1_700_000_000_040)
        try batch.validateAsProduced()
        let validated = try batch.validateRecords(limits: Self.limits)
        #expect(validated.count == 3)
        #expect(validated.maxTimestamp == 1_700_000_000_040)
        #expect(Array(validated.section.readableBytesView) == section)
        // What our builder writes, with every codec, passes too.
        var builder = RecordBatchBuilder(compression: codec)
        for index in 0..<50 {
            builder.append(key: [UInt8(index)], value: Array(repeating: 7, count: index), headers: [RecordHeader(key: "k", value: nil)], timestamp: Int64(index))
        }
        let built = try RecordBatch(validating: builder.build())
        try built.validateAsProduced()
        #expect(try built.validateRecords(limits: Self.limits).maxTimestamp == 49)
    }

    // MARK: Record lengths and varints

    @Test(arguments: allCodecs)
    func recordLengthVarintHugeNegativeOrGarbageIsRefused(codec: CompressionCodec) throws {
        let good = Self.record(offsetDelta: 0)
        let body = Array(good.dropFirst())  // the fields without their one-byte length
        let lengths: [(String, [UInt8])] = [
            ("1,000,000", Self.varint(1_000_000)),
            ("negative", Self.varint(-5)),
            ("garbage: six continuation bytes", [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
            ("overflows 32 bits", [0xFF, 0xFF, 0xFF, 0xFF, 0x7F]),
            ("one short of the fields", Self.varint(Int32(body.count - 1))),
        ]
        for (name, length) in lengths {
            let batch = try Self.batch(section: length + body, count: 1, codec: codec)
            let error = Self.failure(batch)
            #expect(error?.code == .malformedRecord, "\(name)")
            #expect(error?.recordIndex == 0, "\(name)")
            #expect(error?.kafkaErrorCode == .invalidRecord, "\(name)")
        }
    }

    @Test func aCompactedTopicNamesEveryRecordWithoutAKey() throws {
        var builder = RecordBatchBuilder()
        for index in 0..<5 { builder.append(key: index % 2 == 0 ? nil : Array("k\(index)".utf8), value: [1], timestamp: 1) }
        let batch = try RecordBatch(validating: builder.build())
        #expect(throws: Never.self) { try batch.validateRecords(limits: Self.limits) }
        do {
            _ = try batch.validateRecords(limits: Self.limits, requireKeys: true)
            Issue.record("keyless records were accepted")
        } catch {
            #expect(error.code == .missingKey && error.recordIndexes == [0, 2, 4] && error.kafkaErrorCode == .invalidRecord)
        }
    }

    @Test func aBadRecordAfterGoodOnesIsNamedByItsIndex() throws {
        let section = Self.record(offsetDelta: 0) + Self.record(offsetDelta: 1) + Self.record(offsetDelta: 2, length: Self.varint(1_000_000))
        let error = Self.failure(try Self.batch(section: section, count: 3))
        #expect(error?.code == .malformedRecord)
        #expect(error?.recordIndex == 2)
    }

    @Test func fieldLengthsInsideARecordAreChecked() throws {
        var cases: [(String, [UInt8])] = []
        // Key length -2 (only -1 means null), value longer than the record, trailing bytes.
        var key = ByteBuffer()
        key.writeInteger(UInt8(0))
        key.writeVarlong(0)
        key.writeVarint(0)
        key.writeVarint(-2)
        key.writeVarint(-1)
        key.writeVarint(0)
        cases.append(("key length -2", Self.varint(Int32(key.readableBytes)) + Array(key.readableBytesView)))
        cases.append(("value past the record", Self.record(offsetDelta: 0, value: [1, 2, 3]).dropLast(2) + []))
        cases.append(("bytes trail the fields", Self.record(offsetDelta: 0, extra: [0, 0])))
        cases.append(("timestamp delta varlong of 11 bytes", Self.varint(16) + [0] + Array(repeating: 0xFF, count: 11) + [0, 1, 1, 0, 0]))
        for (name, section) in cases {
            let batch = try Self.batch(section: Array(section), count: 1)
            let error = Self.failure(batch)
            #expect(error?.code == .malformedRecord || error?.code == .invalidRecordCount, "\(name): \(String(describing: error))")
            #expect(error?.kafkaErrorCode == .invalidRecord, "\(name)")
        }
    }

    // MARK: Counts, offsets, timestamps

    @Test(arguments: allCodecs)
    func recordsCountMustMatchTheRecords(codec: CompressionCodec) throws {
        let two = Self.record(offsetDelta: 0) + Self.record(offsetDelta: 1)
        // Uncompressed, the header check alone can already tell that 3 records cannot fit.
        let tooFew: RecordBatchError?
        do {
            tooFew = Self.failure(try Self.batch(section: two, count: 3, codec: codec))
        } catch {
            tooFew = error as? RecordBatchError
        }
        #expect(tooFew?.code == .invalidRecordCount)
        let tooMany = Self.failure(try Self.batch(section: two, count: 1, codec: codec))
        #expect(tooMany?.code == .invalidRecordCount)
        #expect(tooMany?.kafkaErrorCode == .invalidRecord)
    }

    @Test(arguments: allCodecs)
    func offsetDeltasMustBeZeroOneTwoInOrder(codec: CompressionCodec) throws {
        let swapped = Self.record(offsetDelta: 0) + Self.record(offsetDelta: 2) + Self.record(offsetDelta: 1)
        let error = Self.failure(try Self.batch(section: swapped, count: 3, codec: codec))
        #expect(error?.code == .invalidOffsetDelta)
        #expect(error?.recordIndex == 1)
        #expect(error?.kafkaErrorCode == .invalidRecord)
        let repeated = Self.record(offsetDelta: 0) + Self.record(offsetDelta: 0)
        #expect(Self.failure(try Self.batch(section: repeated, count: 2, codec: codec))?.code == .invalidOffsetDelta)
        let negative = Self.record(offsetDelta: -1)
        #expect(Self.failure(try Self.batch(section: negative, count: 1, codec: codec))?.recordIndex == 0)
    }

    @Test func timestampsThatOverflowAreRefused() throws {
        let section = Self.record(offsetDelta: 0, timestampDelta: Int64.max)
        let error = Self.failure(try Self.batch(section: section, count: 1, baseTimestamp: 10))
        #expect(error?.code == .invalidTimestamp)
        #expect(error?.recordIndex == 0)
    }

    // MARK: Headers

    @Test(arguments: allCodecs)
    func bogusHeaderCountsAndNullHeaderKeysAreRefused(codec: CompressionCodec) throws {
        func withHeaderCount(_ count: Int32, tail: [UInt8] = []) -> [UInt8] {
            var body = ByteBuffer()
            body.writeInteger(UInt8(0))
            body.writeVarlong(0)
            body.writeVarint(0)
            body.writeVarint(-1)
            body.writeVarint(1)
            body.writeInteger(UInt8(42))
            body.writeVarint(count)
            body.writeBytes(tail)
            return Self.varint(Int32(body.readableBytes)) + Array(body.readableBytesView)
        }
        let cases: [(String, [UInt8])] = [
            ("header count 1,000,000", withHeaderCount(1_000_000)),
            ("header count -1", withHeaderCount(-1)),
            ("header count 2 with one header", withHeaderCount(2, tail: [2, 0x68, 2, 0x76])),
            ("null header key", withHeaderCount(1, tail: [1, 0])),
            ("header key past the record", withHeaderCount(1, tail: [40, 0x68])),
        ]
        for (name, section) in cases {
            let error = Self.failure(try Self.batch(section: section, count: 1, codec: codec))
            #expect(error?.code == .malformedRecord, "\(name): \(String(describing: error))")
            #expect(error?.recordIndex == 0, "\(name)")
        }
        #expect(Self.failure(try Self.batch(section: withHeaderCount(1, tail: [2, 0x68, 2, 0x76]), count: 1, codec: codec)) == nil)
    }

    // MARK: Compressed sections

    @Test(arguments: [CompressionCodec.gzip, .snappy, .lz4, .zstd])
    func garbageInsideACompressedBatchIsRefused(codec: CompressionCodec) throws {
        // A valid stream of the codec holding bytes that are not records.
        var generator = SeededBytes(seed: 7)
        let garbage = (0..<300).map { _ in generator.next() }
        let error = Self.failure(try Self.batch(section: garbage, count: 1, codec: codec))
        #expect(error?.kafkaErrorCode == .invalidRecord, "\(String(describing: error))")
        // And a section that is not a stream of the codec at all.
        var bytes = ByteBuffer()
        let good = try Self.batch(section: Self.record(offsetDelta: 0), count: 1, codec: codec)
        bytes.writeImmutableBuffer(good.bytes.getSlice(at: 0, length: RecordBatchHeader.size)!)
        bytes.writeBytes(garbage)
        bytes.setInteger(Int32(bytes.readableBytes - RecordBatchHeader.logOverhead), at: RecordBatchHeader.Offset.batchLength)
        bytes.stampRecordBatchChecksum()
        let notAStream = Self.failure(try RecordBatch(validating: bytes))
        #expect(notAStream?.code == .decompressionFailed || notAStream?.code == .malformedRecord, "\(String(describing: notAStream))")
        #expect(notAStream?.kafkaErrorCode == .invalidRecord)
    }

    @Test(arguments: [CompressionCodec.gzip, .zstd])
    func decompressionAndRecordCountAreBoundedByTheLimits(codec: CompressionCodec) throws {
        var section: [UInt8] = []
        for index in 0..<2000 { section += Self.record(offsetDelta: Int32(index), value: Array(repeating: 0, count: 100)) }
        let batch = try Self.batch(section: section, count: 2000, codec: codec)
        #expect(Self.failure(batch) == nil)
        let fewBytes = RecordBatchLimits(maxDecompressedBytes: 64 * 1024, maxRecordsPerBatch: 1 << 20)
        #expect(Self.failure(batch, limits: fewBytes)?.code == .decompressedTooLarge)
        let fewRecords = RecordBatchLimits(maxDecompressedBytes: 1 << 30, maxRecordsPerBatch: 1999)
        let tooMany = Self.failure(batch, limits: fewRecords)
        #expect(tooMany?.code == .tooManyRecords)
        #expect(tooMany?.kafkaErrorCode == .messageTooLarge)
    }

    @Test func limitsFollowMaxMessageBytesAboveTheirFloor() {
        let defaults = RecordBatchLimits(maxMessageBytes: 1_048_588)
        #expect(defaults.maxDecompressedBytes == RecordBatchLimits.minimumDecompressedBytes)
        #expect(defaults.maxRecordsPerBatch == RecordBatchLimits.minimumRecordsPerBatch)
        // The 9.6 M seven-byte records of issue 11's bomb are past the default bound.
        #expect(defaults.maxRecordsPerBatch < 9_600_000)
        let large = RecordBatchLimits(maxMessageBytes: 200 * 1024 * 1024)
        #expect(large.maxDecompressedBytes == 200 * 1024 * 1024)
        #expect(large.maxRecordsPerBatch == 200 * 1024 * 1024 / 7)
        // Readers accept whatever any configuration accepts.
        for bytes in [0, 1_048_588, 200 * 1024 * 1024, Int(Int32.max), Int.max] {
            let topic = RecordBatchLimits(maxMessageBytes: bytes)
            #expect(RecordBatchLimits.readable.maxDecompressedBytes >= topic.maxDecompressedBytes)
            #expect(RecordBatchLimits.readable.maxRecordsPerBatch >= topic.maxRecordsPerBatch)
        }
    }

    // MARK: Producer fields and control batches

    @Test func controlBatchesFromClientsAreRefused() throws {
        let control = RecordBatchAttributes(compression: .none, isControl: true).rawValue
        let error = Self.failure(try Self.batch(section: Self.record(offsetDelta: 0), count: 1, attributes: control))
        #expect(error?.code == .controlBatchFromClient)
        #expect(error?.kafkaErrorCode == .invalidRecord)
    }

    @Test func transactionalBatchesNeedAProducerIdAndProducerIdsASequence() throws {
        let transactional = RecordBatchAttributes(compression: .none, isTransactional: true).rawValue
        let noProducer = Self.failure(try Self.batch(section: Self.record(offsetDelta: 0), count: 1, attributes: transactional))
        #expect(noProducer?.code == .invalidProducerFields)
        #expect(noProducer?.kafkaErrorCode == .invalidRecord)
        let noSequence = Self.failure(try Self.batch(section: Self.record(offsetDelta: 0), count: 1, producerId: 7, baseSequence: -1))
        #expect(noSequence?.code == .invalidProducerFields)
        let fine = try Self.batch(section: Self.record(offsetDelta: 0), count: 1, attributes: transactional, producerId: 7, baseSequence: 0)
        #expect(Self.failure(fine) == nil)
    }

    // MARK: Lookup by timestamp

    @Test(arguments: allCodecs)
    func firstRecordAtOrAfterReadsTimestampsInPlace(codec: CompressionCodec) throws {
        let section = Self.record(offsetDelta: 0, timestampDelta: 0) + Self.record(offsetDelta: 1, timestampDelta: 30)
            + Self.record(offsetDelta: 2, timestampDelta: 10) + Self.record(offsetDelta: 3, timestampDelta: 50)
        var batch = try Self.batch(section: section, count: 4, codec: codec, baseTimestamp: 1000, maxTimestamp: 1050)
        batch.setBaseOffset(500)
        #expect(try batch.firstRecord(atOrAfter: 0)! == (500, 1000))
        #expect(try batch.firstRecord(atOrAfter: 1005)! == (501, 1030))
        #expect(try batch.firstRecord(atOrAfter: 1031)! == (503, 1050))
        #expect(try batch.firstRecord(atOrAfter: 1051) == nil)
        let small = RecordBatchLimits(maxDecompressedBytes: 4, maxRecordsPerBatch: 10)
        if codec != .none {
            #expect(throws: RecordBatchError.self) { try batch.firstRecord(atOrAfter: 0, limits: small) }
        }
    }
}

/// Deterministic bytes (xorshift) for garbage sections.
struct SeededBytes {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
    mutating func next() -> UInt8 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt8(truncatingIfNeeded: state >> 24)
    }
}
