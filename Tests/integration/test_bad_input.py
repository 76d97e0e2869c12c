"""Hostile input: the broker answers with an error code or closes that one connection, never
crashes, stores nothing corrupt, and keeps serving everyone else."""
import random
import struct
import subprocess

from kafka_wire import (Connection, api_versions_request, frame, header, metadata_request_v1,
                        parse_produce_response_v3, produce_request_v3, record_batch)


def assert_healthy(broker):
    result = subprocess.run(["kcat", "-b", broker.bootstrap, "-L"], capture_output=True, timeout=20)
    assert result.returncode == 0 and b"1 brokers" in result.stdout, result.stderr
    conn = Connection(broker)
    conn.send(api_versions_request())
    assert conn.receive() is not None
    conn.close()


def test_random_bytes_truncated_frames_and_absurd_sizes_close_only_that_connection(broker):
    rng = random.Random(7)
    attacks = [
        bytes(rng.getrandbits(8) for _ in range(64)),
        struct.pack(">i", 0x7FFFFFFF) + b"x" * 32,  # larger than socket.request.max.bytes
        struct.pack(">i", -5) + b"x" * 8,  # negative size
        struct.pack(">i", 100) + b"only part of the frame",  # truncated, then closed
        frame(b"\x00"),  # shorter than a request header
        frame(header(999, 0, 1)),  # unknown API key
        frame(header(3, 99, 1)),  # unsupported Metadata version
        frame(struct.pack(">hhi", 3, 1, 5) + struct.pack(">h", 500) + b"ab"),  # client id runs past the frame
    ]
    for attack in attacks:
        conn = Connection(broker, timeout=5)
        conn.send(attack)
        conn.sock.shutdown(1) if attack.startswith(struct.pack(">i", 100)) else None
        assert conn.receive() is None, f"expected the connection to close after {attack[:16]!r}"
        conn.close()
    assert_healthy(broker)
    assert "closing connection" in broker.read_log()


def test_unsupported_api_versions_version_gets_an_answer(broker):
    conn = Connection(broker)
    conn.send(api_versions_request(version=99, correlation_id=42))
    payload = conn.receive()
    correlation_id, error_code = struct.unpack_from(">ih", payload, 0)
    assert (correlation_id, error_code) == (42, 35)  # UNSUPPORTED_VERSION, with our ranges
    (count,) = struct.unpack_from(">i", payload, 6)
    ranges = {struct.unpack_from(">hhh", payload, 10 + 6 * i)[0]: struct.unpack_from(">hhh", payload, 10 + 6 * i)[1:] for i in range(count)}
    assert ranges[18] == (0, 4) and ranges[0][0] == 0
    conn.close()


def test_mutated_requests_never_crash_the_broker(broker):
    rng = random.Random(11)
    valid = [metadata_request_v1(["mutations"]), produce_request_v3("mutations", 0, record_batch([b"v"] * 3))]
    for i in range(300):
        data = bytearray(rng.choice(valid))
        for _ in range(rng.randint(1, 6)):
            position = rng.randrange(4, len(data))  # keep the size prefix so the frame is whole
            data[position] = rng.getrandbits(8)
        conn = Connection(broker, timeout=5)
        conn.send(bytes(data))
        conn.receive()  # an answer or a close: both are fine, a crash is not
        conn.close()
    assert_healthy(broker)
    # Whatever was stored is whole, valid batches: kcat (which checks CRCs) reads it all.
    result = subprocess.run(["kcat", "-b", broker.bootstrap, "-t", "mutations", "-C", "-e", "-o", "beginning", "-X", "check.crcs=true"],
                            capture_output=True, timeout=20)
    assert result.returncode == 0, result.stderr


def test_wrong_crc_gets_corrupt_message_and_is_not_stored(broker):
    conn = Connection(broker)
    good = record_batch([b"first", b"second"])
    conn.send(produce_request_v3("crc", 0, good))
    assert parse_produce_response_v3(conn.receive()) == [(0, 3, -1)]  # no such topic: produce does not create
    conn.send(metadata_request_v1(["crc"]))  # Metadata auto-creates it
    assert conn.receive() is not None
    conn.send(produce_request_v3("crc", 0, good, correlation_id=4))
    assert parse_produce_response_v3(conn.receive()) == [(0, 0, 0)]
    damaged = bytearray(good)
    damaged[-1] ^= 0xFF  # inside the CRC-covered records
    conn.send(produce_request_v3("crc", 0, bytes(damaged), correlation_id=5))
    assert parse_produce_response_v3(conn.receive()) == [(0, 2, -1)]  # CORRUPT_MESSAGE
    two_batches = good + good
    conn.send(produce_request_v3("crc", 0, two_batches, correlation_id=6))
    assert parse_produce_response_v3(conn.receive()) == [(0, 87, -1)]  # INVALID_RECORD
    conn.close()
    result = subprocess.run(["kcat", "-b", broker.bootstrap, "-t", "crc", "-C", "-e", "-o", "beginning", "-f", "%o %s\n"],
                            capture_output=True, timeout=20)
    assert result.stdout.decode().splitlines() == ["0 first", "1 second"]
