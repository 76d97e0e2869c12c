import Foundation
import NIOCore

/// A batch built by kafka-python's DefaultRecordBatchBuilder, with the records that went in.
/// Made by tools/fixtures/make_record_batch_fixtures.py; see tools/fixtures/README.md.
struct RecordBatchFixture: Decodable, CustomStringConvertible {
    struct Header: Decodable {
        var key: String
        var value_hex: String?
    }

    struct Record: Decodable {
        var offset_delta: Int32
        var timestamp: Int64
        var key_hex: String?
        var value_hex: String?
        var headers: [Header]
    }

    var name = ""
    var codec: String
    var snappy_framing: String?
    var base_offset: Int64
    var batch_length: Int32
    var partition_leader_epoch: Int32
    var magic: Int8
    var crc: UInt32
    var attributes: Int16
    var last_offset_delta: Int32
    var base_timestamp: Int64
    var max_timestamp: Int64
    var producer_id: Int64
    var producer_epoch: Int16
    var base_sequence: Int32
    var records_count: Int32
    var is_transactional: Bool
    var records: [Record]
    var bytes: [UInt8] = []

    private enum CodingKeys: String, CodingKey {
        case codec, snappy_framing, base_offset, batch_length, partition_leader_epoch, magic, crc, attributes
        case last_offset_delta, base_timestamp, max_timestamp, producer_id, producer_epoch, base_sequence
        case records_count, is_transactional, records
    }

    var description: String { name }

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/record-batches")

    static let names = ["none", "gzip", "snappy", "snappy-raw", "lz4", "zstd", "idempotent", "transactional", "base-offset"]

    static func load(_ name: String) throws -> RecordBatchFixture {
        let json = try Data(contentsOf: directory.appendingPathComponent("\(name).json"))
        var fixture = try JSONDecoder().decode(RecordBatchFixture.self, from: json)
        fixture.name = name
        fixture.bytes = Array(try Data(contentsOf: directory.appendingPathComponent("\(name).batch")))
        return fixture
    }
}

extension ByteBuffer {
    init?(hex: String?) {
        guard let hex else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.utf8.count / 2)
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        self.init(bytes: bytes)
    }
}
