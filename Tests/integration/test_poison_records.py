"""Issue 11 items 2-4: batches with a valid CRC but records no consumer can read are refused with
INVALID_RECORD and not stored; a compressed batch of millions of tiny records is refused on a
recompressing topic without the broker's memory following it; a large batch the broker accepts
can still be found by timestamp."""
import subprocess

from kafka_wire import (Connection, list_offsets, list_offsets_latest, metadata_request_v1, parse_produce_response_v8,
                        produce_request_v8, parse_produce_response_v3,
                        produce_request_v3, produce_request_v7, raw_batch, raw_record, zigzag_varint)


def create(broker, topic):
    conn = Connection(broker)
    conn.send(metadata_request_v1([topic]))  # auto-creates the topic
    assert conn.receive() is not None
    conn.close()


def test_malformed_records_are_refused_and_not_stored(broker):
    create(broker, "poison")
    conn = Connection(broker)
    good = raw_batch(raw_record(0, b"first") + raw_record(1, b"second"), 2)
    conn.send(produce_request_v3("poison", 0, good))
    assert parse_produce_response_v3(conn.receive()) == [(0, 0, 0)]
    body = raw_record(0)[1:]
    poisons = {
        "length 1,000,000": raw_batch(zigzag_varint(1_000_000) + body, 1),
        "negative length": raw_batch(zigzag_varint(-5) + body, 1),
        "garbage length": raw_batch(b"\xff" * 6 + body, 1),
        "wrong count": raw_batch(raw_record(0) + raw_record(1), 3),
        "offset deltas out of order": raw_batch(raw_record(0) + raw_record(2) + raw_record(1), 3),
        "garbage inside zstd": raw_batch(bytes(range(256)) * 2, 1, codec=4),
        "garbage inside gzip": raw_batch(bytes(range(256)) * 2, 1, codec=1),
        "control batch": raw_batch(raw_record(0), 1, attributes=0x20),
        "transactional without producer id": raw_batch(raw_record(0), 1, attributes=0x10),
    }
    for index, (name, batch) in enumerate(poisons.items()):
        conn.send(produce_request_v7("poison", 0, batch, correlation_id=10 + index))
        assert parse_produce_response_v3(conn.receive()) == [(0, 87, -1)], name  # INVALID_RECORD
    assert list_offsets_latest(conn, "poison", 0) == 2  # nothing stored
    conn.send(produce_request_v3("poison", 0, raw_batch(raw_record(0, b"third"), 1), correlation_id=99))
    assert parse_produce_response_v3(conn.receive()) == [(0, 0, 2)]
    conn.close()
    result = subprocess.run(["kcat", "-b", broker.bootstrap, "-t", "poison", "-C", "-e", "-o", "beginning", "-f", "%o %s\n"],
                            capture_output=True, timeout=20)
    assert result.stdout.decode().splitlines() == ["0 first", "1 second", "2 third"], result.stderr


def test_produce_v8_names_the_record_at_fault(broker):
    # Produce v8+ carries record_errors: the batch_index of the record Kafka's LogValidator
    # refused (here the second of three, whose offset delta skips), with a message.
    create(broker, "poison-v8")
    conn = Connection(broker)
    batch = raw_batch(raw_record(0) + raw_record(5) + raw_record(2), 3)
    conn.send(produce_request_v8("poison-v8", 0, batch))
    (partition, error, base_offset, record_errors, _message), = parse_produce_response_v8(conn.receive())
    assert (partition, error, base_offset) == (0, 87, -1)
    assert [index for index, _ in record_errors] == [1], record_errors
    assert record_errors[0][1], "the record error carries a message"
    assert list_offsets_latest(conn, "poison-v8", 0) == 0
    conn.close()


def test_a_zstd_batch_of_millions_of_tiny_records_is_refused_with_bounded_memory(broker):
    # An lz4 topic recompresses every zstd batch: before the fix the broker built all 9 M
    # records in memory (about 80 bytes each) on its event loop. 9 M seven-byte records
    # inflate to 63 MB, under the 64 MiB decompression bound, so only the record-count bound
    # (RecordBatchLimits) refuses them.
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("bomb", num_partitions=1, replication_factor=1,
                                  config={"compression.type": "lz4"})])["bomb"].result(10)
    conn = Connection(broker)
    count = 9_000_000
    import struct
    import zstandard
    from kafka.record.util import calc_crc32c
    # Seven-byte records (all with offset delta 0, as in the report: the record count is
    # checked before any record is read), compressed in one frame.
    compressor = zstandard.ZstdCompressor().compressobj()
    chunk = raw_record(0, b"") * 100_000
    parts = [compressor.compress(chunk) for _ in range(count // 100_000)]
    parts.append(compressor.flush())
    compressed = b"".join(parts)
    after_crc = struct.pack(">hiqqqhii", 4, count - 1, 0, 0, -1, -1, -1, count) + compressed
    batch = struct.pack(">qiibI", 0, 9 + len(after_crc), -1, 2, calc_crc32c(after_crc)) + after_crc
    conn.send(produce_request_v7("bomb", 0, batch))
    (partition, error, offset), = parse_produce_response_v3(conn.receive())
    assert error == 10 and offset == -1  # MESSAGE_TOO_LARGE: more records than a batch may hold
    with open(f"/proc/{broker.broker_pid()}/status") as status:
        hwm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    assert hwm_kb < 300 * 1024, hwm_kb
    conn.send(produce_request_v3("bomb", 0, raw_batch(raw_record(0, b"after"), 1), correlation_id=5))
    assert parse_produce_response_v3(conn.receive()) == [(0, 0, 0)]
    conn.close()


def test_a_large_batch_the_broker_accepts_is_found_by_timestamp(broker):
    # Item 4: a batch inflating past 64 MiB, accepted because the topic's max.message.bytes
    # allows it, must not break timestamp lookup (before the fix the lookup decompressed with a
    # fixed 64 MiB bound and failed for the whole partition). The same bound now applies on
    # both sides, and the lookup walks the records without building them.
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("large", num_partitions=1, replication_factor=1,
                                  config={"max.message.bytes": str(100_000_000)})])["large"].result(10)
    conn = Connection(broker, timeout=60)
    base = 1_700_000_000_000
    count = 70_000
    value = b"x" * 1000
    # Record i has timestamp base + i; about 71 MB once decompressed.
    section = b"".join(raw_record(i, value, timestamp_delta=i) for i in range(count))
    assert len(section) > 64 * 1024 * 1024
    conn.send(produce_request_v7("large", 0, raw_batch(section, count, codec=4, base_timestamp=base,
                                                       max_timestamp=base + count - 1)))
    assert parse_produce_response_v3(conn.receive()) == [(0, 0, 0)]
    conn.send(produce_request_v3("large", 0, raw_batch(raw_record(0, b"later"), 1, base_timestamp=base + 100_000),
                                 correlation_id=5))
    assert parse_produce_response_v3(conn.receive()) == [(0, 0, count)]
    assert list_offsets(conn, "large", 0, base + 50_000, correlation_id=6) == (0, 50_000)
    assert list_offsets(conn, "large", 0, base + 80_000, correlation_id=7) == (0, count)
    conn.close()


def test_a_producers_log_append_time_bit_is_not_believed_on_a_create_time_topic(broker):
    # A producer may not choose LogAppendTime: on a CreateTime topic the broker stores the
    # batch as CreateTime with the records' largest timestamp (Kafka's LogValidator does the
    # same), or consumers, the time index and retention would believe any maxTimestamp it sent.
    create(broker, "stamped")
    conn = Connection(broker)
    base = 1_700_000_000_000
    batch = raw_batch(raw_record(0, b"x", timestamp_delta=5), 1, attributes=0x08, base_timestamp=base,
                      max_timestamp=2 ** 62)
    conn.send(produce_request_v7("stamped", 0, batch))
    assert parse_produce_response_v3(conn.receive()) == [(0, 0, 0)]
    assert list_offsets(conn, "stamped", 0, base + 5, correlation_id=6) == (0, 0)
    conn.close()
    result = subprocess.run(["kcat", "-b", broker.bootstrap, "-t", "stamped", "-C", "-e", "-o", "beginning",
                             "-f", "%T %s\n"], capture_output=True, timeout=20)
    assert result.stdout.decode().splitlines() == [f"{base + 5} x"], result.stderr
