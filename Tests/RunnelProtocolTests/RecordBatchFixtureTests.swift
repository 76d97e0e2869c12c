import NIOCore
import RunnelCodecs
import RunnelProtocol
import Testing

/// Batches written by code we did not write (kafka-python) must decode exactly, and where the
/// format is deterministic our encoder must write the same bytes.
@Suite struct RecordBatchFixtureTests {
    @Test(arguments: RecordBatchFixture.names)
    func decodesEveryRecordExactly(name: String) throws {
        let fixture = try RecordBatchFixture.load(name)
        let batch = try RecordBatch(validating: ByteBuffer(bytes: fixture.bytes))
        let header = batch.header
        #expect(header.baseOffset == fixture.base_offset)
        #expect(header.batchLength == fixture.batch_length)
        #expect(header.partitionLeaderEpoch == fixture.partition_leader_epoch)
        #expect(header.magic == fixture.magic)
        #expect(header.crc == fixture.crc)
        #expect(header.attributes.rawValue == fixture.attributes)
        #expect(header.lastOffsetDelta == fixture.last_offset_delta)
        #expect(header.baseTimestamp == fixture.base_timestamp)
        #expect(header.maxTimestamp == fixture.max_timestamp)
        #expect(header.producerId == fixture.producer_id)
        #expect(header.producerEpoch == fixture.producer_epoch)
        #expect(header.baseSequence == fixture.base_sequence)
        #expect(header.recordsCount == fixture.records_count)
        #expect(header.attributes.isTransactional == fixture.is_transactional)
        #expect(batch.compression.description == fixture.codec)
        try batch.validateAsProduced()

        let records = try batch.records()
        try #require(records.count == fixture.records.count)
        for (record, expected) in zip(records, fixture.records) {
            #expect(record.offset == fixture.base_offset + Int64(expected.offset_delta))
            #expect(record.timestamp == expected.timestamp)
            #expect(record.key == ByteBuffer(hex: expected.key_hex))
            #expect(record.value == ByteBuffer(hex: expected.value_hex))
            #expect(record.headers.map(\.key) == expected.headers.map(\.key))
            #expect(record.headers.map(\.value) == expected.headers.map { ByteBuffer(hex: $0.value_hex) })
        }
    }

    /// Re-encoding the fixture's records with the fixture's producer fields and codec gives a
    /// batch that decodes to the same records; uncompressed, it is byte-for-byte kafka-python's.
    @Test(arguments: RecordBatchFixture.names)
    func ourEncoderAgrees(name: String) throws {
        let fixture = try RecordBatchFixture.load(name)
        var builder = RecordBatchBuilder(compression: CompressionCodec(name: fixture.codec)!)
        builder.baseOffset = fixture.base_offset
        builder.partitionLeaderEpoch = fixture.partition_leader_epoch
        builder.producerId = fixture.producer_id
        builder.producerEpoch = fixture.producer_epoch
        builder.baseSequence = fixture.base_sequence
        builder.isTransactional = fixture.is_transactional
        for record in fixture.records {
            builder.append(
                key: ByteBuffer(hex: record.key_hex), value: ByteBuffer(hex: record.value_hex),
                headers: record.headers.map { RecordHeader(key: $0.key, value: ByteBuffer(hex: $0.value_hex)) },
                timestamp: record.timestamp)
        }
        let encoded = try builder.build()
        let ours = try RecordBatch(validating: encoded)
        let theirs = try RecordBatch(validating: ByteBuffer(bytes: fixture.bytes))
        #expect(try ours.records() == theirs.records())
        #expect(ours.header.attributes == theirs.header.attributes)
        #expect(ours.header.baseTimestamp == theirs.header.baseTimestamp)
        #expect(ours.header.maxTimestamp == theirs.header.maxTimestamp)
        // The uncompressed records sections are identical whatever the codec.
        #expect(try ours.recordsSection() == theirs.recordsSection())
        if fixture.codec == "none" {
            #expect(Array(encoded.readableBytesView) == fixture.bytes)
        }
    }
}
