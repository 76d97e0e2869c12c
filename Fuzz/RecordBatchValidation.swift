// libFuzzer target `record-batch`: a produced record set through RecordBatch validation and
// record decoding, with decompression for every codec. Built and run by tools/fuzz.
//
// Input: one flags byte, then the record set's bytes. A stored CRC stops almost every mutation
// at the checksum, so by default the harness stamps the batch length and the CRC the mutated
// bytes need, letting the fuzzer reach the codecs and the record decoder; flag bits turn each
// fix-up off so that the length and CRC checks themselves are fuzzed too.
//
// The checks are those of the produce path (`RecordBatch(validating:)`, `validateAsProduced`,
// `validateRecords(limits:)`) and of the read paths (`firstRecord(atOrAfter:)`, `records()`).
// Beyond "no crash, no trap, no sanitizer report": a batch the produce path accepts decodes;
// decoded batches have exactly `recordsCount` records, the validator and the lookup by time agree
// with them, and the records, written again by `RecordBatchBuilder`, validate and decode to the
// same keys, values and headers.

import NIOCore
import RunnelCodecs
import RunnelProtocol

enum RecordBatchFuzzFlags {
    /// Keep the batchLength field as given instead of fitting it to the input.
    static let keepLength: UInt8 = 0x01
    /// Keep the CRC as given instead of stamping the right one.
    static let keepChecksum: UInt8 = 0x02
}

/// The bound on decompressed bytes while fuzzing: well above any seed, small enough that a
/// decompression bomb costs milliseconds, and what the broker relies on to refuse one.
let fuzzMaxDecompressedBytes = 1 << 20
/// The bound on records per batch while fuzzing, for the same reason.
let fuzzMaxRecords = 1 << 16

@_cdecl("LLVMFuzzerTestOneInput")
public func recordBatchFuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let flags = data[0]
    let recordSet = ByteBuffer(bytes: UnsafeBufferPointer(start: data + 1, count: size - 1))

    // A produce request's record set is split into batches first; every batch is then fuzzed.
    var batches = Array(RecordSet(recordSet))
    if batches.isEmpty { batches = [recordSet] }
    for var bytes in batches {
        if flags & RecordBatchFuzzFlags.keepLength == 0, bytes.readableBytes >= RecordBatchHeader.logOverhead,
           let length = Int32(exactly: bytes.readableBytes - RecordBatchHeader.logOverhead) {
            bytes.setInteger(length, at: bytes.readerIndex + RecordBatchHeader.Offset.batchLength, endianness: .big)
        }
        if flags & RecordBatchFuzzFlags.keepChecksum == 0, bytes.readableBytes >= RecordBatchHeader.size {
            bytes.stampRecordBatchChecksum()
        }
        check(bytes)
    }
    return 0
}

private func check(_ bytes: ByteBuffer) {
    let batch: RecordBatch
    do {
        batch = try RecordBatch(validating: bytes)
    } catch {
        return  // refused with a clean error: what the broker answers CORRUPT_MESSAGE for
    }
    let limits = RecordBatchLimits(maxDecompressedBytes: fuzzMaxDecompressedBytes, maxRecordsPerBatch: fuzzMaxRecords)
    // The produce path: header rules, then every record within the limits.
    let accepted = (try? batch.validateAsProduced()) != nil
    let validated = try? batch.validateRecords(limits: limits)
    // The read paths: lookup by timestamp and full decoding.
    let lookupTimestamp = batch.header.baseTimestamp
    let found = try? batch.firstRecord(atOrAfter: lookupTimestamp, limits: limits)
    let records: [Record]
    do {
        records = try batch.records(maxDecompressedBytes: fuzzMaxDecompressedBytes)
    } catch {
        // What the broker accepts it must be able to read back.
        if accepted, validated != nil { fatalError("a batch the produce path accepts does not decode: \(error)") }
        return
    }
    guard records.count == Int(batch.header.recordsCount) else {
        fatalError("records() returned \(records.count) records for recordsCount \(batch.header.recordsCount)")
    }
    if let validated {
        guard validated.count == records.count else {
            fatalError("validateRecords counted \(validated.count) records, records() decoded \(records.count)")
        }
        // A validated batch's lookup by time must agree with its decoded records (CreateTime).
        if batch.header.attributes.timestampType == .createTime, batch.header.maxTimestamp >= lookupTimestamp {
            let expected = records.first { $0.timestamp >= lookupTimestamp }
            guard found?.offset == expected?.offset, found?.timestamp == expected?.timestamp else {
                fatalError("firstRecord(atOrAfter: \(lookupTimestamp)) found \(String(describing: found)), the records say \(String(describing: expected.map { ($0.offset, $0.timestamp) }))")
            }
        }
    }
    checkRoundTrip(records, compression: batch.compression)
}

/// The decoded records, encoded again by the client's builder, must come back unchanged.
private func checkRoundTrip(_ records: [Record], compression: CompressionCodec) {
    var builder = RecordBatchBuilder(compression: compression)
    for record in records {
        builder.append(key: record.key, value: record.value, headers: record.headers, timestamp: record.timestamp)
    }
    let rebuilt: RecordBatch
    let again: [Record]
    do {
        rebuilt = try RecordBatch(validating: builder.build())
        again = try rebuilt.records(maxDecompressedBytes: 4 * fuzzMaxDecompressedBytes)
    } catch {
        fatalError("records that decoded do not survive RecordBatchBuilder: \(error)")
    }
    guard again.count == records.count else {
        fatalError("rebuilt batch holds \(again.count) records, not \(records.count)")
    }
    for (original, copy) in zip(records, again)
    where original.key != copy.key || original.value != copy.value || original.headers != copy.headers {
        fatalError("record at offset \(original.offset) changed in a rebuild: \(original) became \(copy)")
    }
}
