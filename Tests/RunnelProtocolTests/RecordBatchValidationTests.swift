import NIOCore
import RunnelCodecs
import RunnelProtocol
import Testing

/// Hostile and damaged batches throw typed errors; nothing traps.
@Suite struct RecordBatchValidationTests {
    static func sampleBatch(codec: CompressionCodec = .none, records: Int = 5) throws -> ByteBuffer {
        var builder = RecordBatchBuilder(compression: codec)
        for index in 0..<records {
            builder.append(
                key: Array("key-\(index)".utf8), value: Array("value number \(index) of the sample batch".utf8),
                headers: [RecordHeader(key: "h", value: ByteBuffer(string: "\(index)"))], timestamp: 1_700_000_000_000 + Int64(index))
        }
        return try builder.build()
    }

    /// Rewrites the CRC so that a mutation reaches the checks behind it.
    static func resealed(_ batch: ByteBuffer) -> ByteBuffer {
        var batch = batch
        let crc = batch.withUnsafeReadableBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[21...])) }
        batch.setInteger(crc, at: batch.readerIndex + 17, endianness: .big)
        return batch
    }

    static func error(of body: () throws -> Void) -> RecordBatchError.Code? {
        do {
            try body()
            return nil
        } catch let error as RecordBatchError {
            return error.code
        } catch {
            Issue.record("untyped error \(error)")
            return nil
        }
    }

    @Test(arguments: CompressionCodec.allCases)
    func everyTruncationIsRejected(codec: CompressionCodec) throws {
        let batch = try Self.sampleBatch(codec: codec)
        for length in 0..<batch.readableBytes {
            let cut = batch.getSlice(at: 0, length: length)!
            let code = Self.error { _ = try RecordBatch(validating: cut) }
            #expect(code == .truncated, "cut at \(length)")
        }
    }

    @Test(arguments: CompressionCodec.allCases)
    func everyFlippedCoveredByteFailsTheCRC(codec: CompressionCodec) throws {
        let batch = try Self.sampleBatch(codec: codec)
        for index in RecordBatchHeader.crcCoverageStart..<batch.readableBytes {
            var damaged = batch
            damaged.setInteger(batch.getInteger(at: index, as: UInt8.self)! ^ 0x40, at: index)
            #expect(Self.error { _ = try RecordBatch(validating: damaged) } == .crcMismatch, "byte \(index)")
        }
    }

    @Test func stampsLieOutsideTheCRC() throws {
        var batch = try RecordBatch(validating: Self.sampleBatch(codec: .lz4))
        batch.setBaseOffset(9_876_543_210)
        batch.setPartitionLeaderEpoch(42)
        let reread = try RecordBatch(validating: batch.bytes)
        #expect(reread.header.baseOffset == 9_876_543_210)
        #expect(reread.header.partitionLeaderEpoch == 42)
        #expect(try reread.records().map(\.offset) == Array(9_876_543_210...9_876_543_214))
    }

    @Test func absurdLengthsAndCountsAreRejected() throws {
        let batch = try Self.sampleBatch()
        var huge = batch
        huge.setInteger(Int32.max, at: 8, endianness: .big)
        #expect(Self.error { _ = try RecordBatch(validating: huge) } == .truncated)
        var negative = batch
        negative.setInteger(Int32(-5), at: 8, endianness: .big)
        #expect(Self.error { _ = try RecordBatch(validating: negative) } == .invalidBatchLength)
        var longer = batch
        longer.writeBytes([0, 0, 0])
        #expect(Self.error { _ = try RecordBatch(validating: longer) } == .invalidBatchLength)

        var manyRecords = batch
        manyRecords.setInteger(Int32.max, at: 57, endianness: .big)
        #expect(Self.error { _ = try RecordBatch(validating: Self.resealed(manyRecords)) } == .invalidRecordCount)
        var negativeCount = batch
        negativeCount.setInteger(Int32(-1), at: 57, endianness: .big)
        #expect(Self.error { _ = try RecordBatch(validating: Self.resealed(negativeCount)) } == .invalidRecordCount)

        // Fewer records declared than present: valid structure, but the records do not add up.
        var fewer = batch
        fewer.setInteger(Int32(4), at: 57, endianness: .big)
        let sealed = try RecordBatch(validating: Self.resealed(fewer))
        #expect(Self.error { try sealed.validateAsProduced() } == .invalidRecordCount)
        #expect(Self.error { _ = try sealed.records() } == .invalidRecordCount)
    }

    @Test func wrongMagicAndUnknownCodecAreRejected() throws {
        var oldMagic = try Self.sampleBatch()
        oldMagic.setInteger(Int8(1), at: 16)
        #expect(Self.error { _ = try RecordBatch(validating: oldMagic) } == .unsupportedMagic)
        var codec7 = try Self.sampleBatch()
        codec7.setInteger(Int16(7), at: 21, endianness: .big)
        #expect(Self.error { _ = try RecordBatch(validating: Self.resealed(codec7)) } == .unknownCompressionCodec)
        #expect(RecordBatchError(.unknownCompressionCodec, "").kafkaErrorCode == .corruptMessage)
        #expect(RecordBatchError(.crcMismatch, "").kafkaErrorCode == .corruptMessage)
    }

    @Test(arguments: [CompressionCodec.gzip, .snappy, .lz4, .zstd])
    func decompressionBombInsideABatchIsRefused(codec: CompressionCodec) throws {
        var builder = RecordBatchBuilder(compression: codec)
        builder.append(key: nil, value: [UInt8](repeating: 0, count: 4 * 1024 * 1024), timestamp: 0)
        let batch = try RecordBatch(validating: builder.build())
        #expect(batch.bytes.readableBytes < 512 * 1024)
        #expect(Self.error { _ = try batch.records(maxDecompressedBytes: 1024 * 1024) } == .decompressedTooLarge)
        #expect(try batch.records().first?.value?.readableBytes == 4 * 1024 * 1024)
    }

    @Test func corruptCompressedSectionIsRejected() throws {
        var batch = try Self.sampleBatch(codec: .zstd)
        let middle = RecordBatchHeader.size + (batch.readableBytes - RecordBatchHeader.size) / 2
        batch.setInteger(batch.getInteger(at: middle, as: UInt8.self)! ^ 0xFF, at: middle)
        let sealed = try RecordBatch(validating: Self.resealed(batch))
        let code = Self.error { _ = try sealed.records() }
        #expect(code == .decompressionFailed || code == .malformedRecord)
    }

    /// Random mutations, re-sealed so they get past the CRC, must never trap in decoding.
    @Test(arguments: CompressionCodec.allCases)
    func randomMutationsNeverTrap(codec: CompressionCodec) throws {
        let batch = try Self.sampleBatch(codec: codec, records: 8)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var mutated = batch
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let index = Int.random(in: RecordBatchHeader.crcCoverageStart..<batch.readableBytes, using: &generator)
                mutated.setInteger(UInt8.random(in: .min ... .max, using: &generator), at: index)
            }
            let sealed = Self.resealed(mutated)
            if let valid = try? RecordBatch(validating: sealed) {
                _ = try? valid.records(maxDecompressedBytes: 1 << 20)
            }
        }
    }

    @Test func emptyRecordSetAndPartialTail() throws {
        let first = try Self.sampleBatch(codec: .none, records: 2)
        let second = try Self.sampleBatch(codec: .gzip, records: 3)
        var set = ByteBuffer()
        set.writeImmutableBuffer(first)
        set.writeImmutableBuffer(second)
        set.writeImmutableBuffer(first.getSlice(at: 0, length: 40)!)  // a fetch cut this one short
        var iterator = RecordSet(set).makeIterator()
        var batches: [ByteBuffer] = []
        while let batch = iterator.next() { batches.append(batch) }
        #expect(batches == [first, second])
        #expect(iterator.trailingBytes == 40)
        #expect(Array(RecordSet(ByteBuffer())).isEmpty)
    }

    @Test func sequenceNumbersWrap() throws {
        var builder = RecordBatchBuilder()
        builder.baseSequence = Int32.max - 1
        for index in 0..<4 { builder.append(key: nil, value: [UInt8(index)], timestamp: 0) }
        let batch = try RecordBatch(validating: builder.build())
        #expect(batch.header.lastSequence == 1)
    }
}
