"""Limits a hostile or careless client meets: a fetch response capped at fetch.max.bytes (and
never past what a frame can carry), queued.max.request.bytes back-pressure, connection quotas,
idle connections closed, long polls cancelled with their connection, and listeners whose
security protocol is not served refused at start-up."""
import os
import socket
import struct
import subprocess
import time

from conftest import RUNNEL, BrokerProcess, free_port
from kafka_wire import (Connection, api_versions_request, frame, header, metadata_request_v1,
                        parse_produce_response_v3, produce_request_v3, record_batch)

INT32_MAX = 0x7FFFFFFF


def fetch_request_v4(partitions, max_bytes=INT32_MAX, partition_max_bytes=INT32_MAX, max_wait_ms=0, min_bytes=0,
                     correlation_id=9):
    """partitions: [(topic, partition, fetch_offset)], grouped by topic in order."""
    topics = []
    for topic, partition, offset in partitions:
        if not topics or topics[-1][0] != topic:
            topics.append((topic, []))
        topics[-1][1].append((partition, offset))
    body = struct.pack(">iiiib", -1, max_wait_ms, min_bytes, max_bytes, 0) + struct.pack(">i", len(topics))
    for topic, wanted in topics:
        body += struct.pack(">h", len(topic)) + topic.encode() + struct.pack(">i", len(wanted))
        for partition, offset in wanted:
            body += struct.pack(">iqi", partition, offset, partition_max_bytes)
    return frame(header(1, 4, correlation_id) + body)


def parse_fetch_response_v4(payload):
    """Returns {(topic, partition): (error_code, high_watermark, records bytes)}."""
    offset = 8  # correlation id, throttle time
    (topic_count,) = struct.unpack_from(">i", payload, offset)
    offset += 4
    result = {}
    for _ in range(topic_count):
        (name_length,) = struct.unpack_from(">h", payload, offset)
        topic = payload[offset + 2:offset + 2 + name_length].decode()
        offset += 2 + name_length
        (partition_count,) = struct.unpack_from(">i", payload, offset)
        offset += 4
        for _ in range(partition_count):
            partition, error, high_watermark, _lso = struct.unpack_from(">ihqq", payload, offset)
            offset += 22
            (aborted,) = struct.unpack_from(">i", payload, offset)
            offset += 4 + max(0, aborted) * 16
            (length,) = struct.unpack_from(">i", payload, offset)
            offset += 4
            records = payload[offset:offset + max(0, length)]
            offset += max(0, length)
            result[(topic, partition)] = (error, high_watermark, records)
    assert offset == len(payload), "the response holds nothing after its partitions"
    return result


def batch_sizes(records):
    """The sizes of the whole record batches in `records`; fails on a partial batch."""
    sizes, offset = [], 0
    while offset < len(records):
        (batch_length,) = struct.unpack_from(">i", records, offset + 8)
        assert offset + 12 + batch_length <= len(records), "a fetch returns whole batches only"
        sizes.append(12 + batch_length)
        offset += 12 + batch_length
    return sizes


def fill_partitions(broker, topic, partitions, batches, batch_bytes):
    conn = Connection(broker)
    conn.send(metadata_request_v1([topic]))  # auto-creates with num.partitions
    assert conn.receive() is not None
    value = b"v" * (batch_bytes // 2)
    correlation_id = 100
    for partition in range(partitions):
        for _ in range(batches):
            correlation_id += 1
            conn.send(produce_request_v3(topic, partition, record_batch([value, value]), correlation_id=correlation_id))
            [(_, error, _)] = parse_produce_response_v3(conn.receive())
            assert error == 0
    conn.close()


def assert_alive(broker):
    conn = Connection(broker)
    conn.send(api_versions_request())
    assert conn.receive() is not None, "the broker must still answer"
    conn.close()
    assert broker.process.poll() is None


def open_admitted(broker, count):
    """`count` connections the broker answered. The start-up probe's connection may not be
    closed on the broker's side yet, so a refused attempt is retried (bounded)."""
    kept = []
    for _ in range(200):
        conn = Connection(broker)
        conn.send(api_versions_request())
        if conn.receive() is not None:
            kept.append(conn)
            if len(kept) == count:
                return kept
        else:
            conn.close()
            time.sleep(0.05)
    raise AssertionError(f"only {len(kept)} of {count} connections admitted")


def closed_by_broker(sock, timeout):
    """True if the broker closes `sock` within `timeout` seconds, False if it stays open."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_fetch_of_everything_is_capped_at_fetch_max_bytes(workdir):
    fetch_max = 256 * 1024
    broker = BrokerProcess(os.path.join(workdir, "data"), extra_args=[
        "--override", f"fetch.max.bytes={fetch_max}", "--override", "num.partitions=3"]).start()
    try:
        # 3 partitions of 6 batches of ~100 KB: 1.8 MB, seven times fetch.max.bytes.
        fill_partitions(broker, "big", partitions=3, batches=6, batch_bytes=100_000)
        conn = Connection(broker)
        conn.send(fetch_request_v4([("big", p, 0) for p in range(3)]))
        payload = conn.receive()
        assert payload is not None, "the broker must answer, not die"
        assert len(payload) <= fetch_max + 1024, f"a {len(payload)}-byte response passes fetch.max.bytes"
        partitions = parse_fetch_response_v4(payload)
        first = batch_sizes(partitions[("big", 0)][2])
        assert len(first) == 2, "as many whole batches as fit in fetch.max.bytes"
        total = sum(len(records) for _, _, records in partitions.values())
        assert 0 < total <= fetch_max
        assert all(error == 0 and high_watermark == 12 for error, high_watermark, _ in partitions.values())
        conn.close()
        assert_alive(broker)
    finally:
        assert broker.stop() == 0


def huge_sparse_batch(path, size):
    """Replaces the segment at `path` with one batch of `size` bytes: a real v2 header (offset
    0, one record) and a sparse body of zeros, so gigabytes cost no disk. After a clean
    shutdown the broker trusts the segment (it walks headers, not CRCs), as it does real data."""
    header = struct.pack(">qiibIhiqqqhii", 0, size - 12, 0, 2, 0, 0, 0, 0, 0, -1, -1, -1, 1)
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(size)


def set_checkpoint(path, entries):
    with open(path, "w") as f:
        f.write(f"0\n{len(entries)}\n" + "".join(f"{topic} {partition} {offset}\n" for topic, partition, offset in entries))


def test_a_fetch_of_more_than_2_gib_is_answered_not_trapped(workdir):
    # The reported crash: Fetch with max_bytes = partition_max_bytes = 0x7fffffff over
    # partitions holding 2 GiB made the response overflow Int32 (a trap): the records fit in
    # max_bytes, the records plus the response's headers did not. Two partitions whose batches
    # (1 GiB and just under 1 GiB) add up to 10 bytes less than 2 GiB. Now the answer is capped
    # at fetch.max.bytes, except that its first batch always comes whole (KIP-74): partition
    # 0's batch alone.
    data = os.path.join(workdir, "data")
    broker = BrokerProcess(data, extra_args=["--override", "num.partitions=2"]).start()
    try:
        conn = Connection(broker)
        conn.send(metadata_request_v1(["huge"]))  # auto-creates it
        assert conn.receive() is not None
        conn.close()
    finally:
        assert broker.stop() == 0
    size = 1 << 30
    for partition, batch_size in enumerate([size, INT32_MAX - size - 10]):
        huge_sparse_batch(os.path.join(data, f"huge-{partition}", "00000000000000000000.log"), batch_size)
    set_checkpoint(os.path.join(data, "replication-offset-checkpoint"), [("huge", 0, 1), ("huge", 1, 1)])
    set_checkpoint(os.path.join(data, "recovery-point-offset-checkpoint"), [("huge", 0, 1), ("huge", 1, 1)])
    broker.start()
    try:
        conn = Connection(broker, timeout=60)
        conn.send(fetch_request_v4([("huge", 0, 0), ("huge", 1, 0)]))
        prefix = conn.sock.recv(4, socket.MSG_WAITALL)
        assert len(prefix) == 4, "the broker must answer, not die"
        (response_size,) = struct.unpack(">i", prefix)
        assert size < response_size < size + 1024, response_size
        conn.close()  # not reading a gigabyte of zeros: the broker sees the client go
        assert_alive(broker)
    finally:
        assert broker.stop() == 0


def test_first_batch_is_whole_even_past_fetch_max_bytes(workdir):
    # KIP-74: a batch larger than every limit still comes whole, alone, so consumers progress.
    broker = BrokerProcess(os.path.join(workdir, "data"), extra_args=[
        "--override", "fetch.max.bytes=1024", "--override", "num.partitions=2"]).start()
    try:
        fill_partitions(broker, "kip74", partitions=2, batches=3, batch_bytes=100_000)
        conn = Connection(broker)
        # Partition 0 is read to its end (3 batches of 2 records): partition 1 is the first with data.
        conn.send(fetch_request_v4([("kip74", 0, 6), ("kip74", 1, 0)], partition_max_bytes=10))
        partitions = parse_fetch_response_v4(conn.receive())
        assert partitions[("kip74", 0)][2] == b""
        assert len(batch_sizes(partitions[("kip74", 1)][2])) == 1
        conn.close()
        assert_alive(broker)
    finally:
        assert broker.stop() == 0


def test_queued_request_bytes_stop_reading_until_memory_is_released(workdir):
    limit = 1024 * 1024
    broker = BrokerProcess(os.path.join(workdir, "data"), extra_args=[
        "--override", f"socket.request.max.bytes={limit}", "--override", f"queued.max.request.bytes={limit}"]).start()
    try:
        # A announces a request of the pool's whole size and stalls after 100 bytes of it.
        stalled = socket.create_connection(("127.0.0.1", broker.port), timeout=10)
        stalled.sendall(struct.pack(">i", limit) + b"\0" * 100)
        time.sleep(0.3)
        # B's small request is not read while A holds the pool.
        waiting = Connection(broker, timeout=1.5)
        waiting.send(api_versions_request(correlation_id=77))
        assert waiting.receive() is None, "a request was read past queued.max.request.bytes"
        # A's request completes (garbage: the broker drops A), its bytes go back, B is answered.
        stalled.sendall(b"\0" * (limit - 100))
        waiting.sock.settimeout(10)
        payload = waiting.receive()
        assert payload is not None and struct.unpack_from(">i", payload)[0] == 77
        stalled.close()
        waiting.close()
        assert_alive(broker)
    finally:
        assert broker.stop() == 0


def test_connections_past_max_connections_per_ip_are_closed(workdir):
    broker = BrokerProcess(os.path.join(workdir, "data"), extra_args=["--override", "max.connections.per.ip=3"]).start()
    try:
        kept = open_admitted(broker, 3)
        for _ in range(10):
            refused = socket.create_connection(("127.0.0.1", broker.port), timeout=5)
            refused.sendall(api_versions_request())
            assert closed_by_broker(refused, timeout=10), "a fourth connection from one address must be closed"
            refused.close()
        # Ten refusals, at most a couple of log lines (rate-limited, with a count).
        assert 1 <= broker.read_log().count("refused connections from") <= 2
        # One connection goes: a new one is admitted (once the broker has seen the close).
        kept.pop().close()
        for _ in range(100):
            conn = Connection(broker)
            conn.send(api_versions_request())
            if conn.receive() is not None:
                conn.close()
                break
            conn.close()
            time.sleep(0.05)
        else:
            raise AssertionError("no connection admitted after one closed")
        for conn in kept:
            conn.close()
    finally:
        assert broker.stop() == 0


def test_connections_past_max_connections_are_closed(workdir):
    broker = BrokerProcess(os.path.join(workdir, "data"), extra_args=["--override", "max.connections=2"]).start()
    try:
        kept = open_admitted(broker, 2)
        refused = socket.create_connection(("127.0.0.1", broker.port), timeout=5)
        refused.sendall(api_versions_request())
        assert closed_by_broker(refused, timeout=10)
        refused.close()
        assert "max.connections (2)" in broker.read_log()
        for conn in kept:
            conn.close()
    finally:
        assert broker.stop() == 0


def test_idle_connections_are_closed(workdir):
    broker = BrokerProcess(os.path.join(workdir, "data"), extra_args=["--override", "connections.max.idle.ms=500"]).start()
    try:
        conn = Connection(broker)
        conn.send(api_versions_request())
        assert conn.receive() is not None
        assert closed_by_broker(conn.sock, timeout=20), "an idle connection must be closed"
        conn.close()
        assert_alive(broker)
    finally:
        assert broker.stop() == 0


def test_a_long_poll_is_cancelled_when_its_connection_closes(workdir):
    broker = BrokerProcess(os.path.join(workdir, "data"), extra_args=["--log-level", "debug"]).start()
    try:
        conn = Connection(broker)
        conn.send(metadata_request_v1(["quiet"]))
        assert conn.receive() is not None
        # Nothing to read: the fetch waits up to a minute for data that never comes.
        conn.send(fetch_request_v4([("quiet", 0, 0)], max_wait_ms=60_000, min_bytes=1))
        time.sleep(0.5)
        conn.close()
        deadline = time.time() + 20
        while time.time() < deadline and "cancelling 1 requests in flight" not in broker.read_log():
            time.sleep(0.05)
        assert "cancelling 1 requests in flight" in broker.read_log()
        assert_alive(broker)
    finally:
        assert broker.stop() == 0


def run_refused_broker(workdir, args):
    """Starts a broker that must refuse to start; returns (exit code, output)."""
    port = free_port()
    process = subprocess.Popen([RUNNEL, "broker", "--data-dir", os.path.join(workdir, "data"), *args(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"the broker started instead of refusing {args(port)}: {output.decode(errors='replace')}")
    # Nothing may have listened on the port.
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
    return process.returncode, output.decode(errors="replace")


def test_listeners_with_ssl_or_sasl_are_refused_at_start_up(workdir):
    properties = os.path.join(workdir, "server.properties")
    with open(properties, "w") as f:
        f.write("listeners=CLIENT://127.0.0.1:19093\nlistener.security.protocol.map=CLIENT:SASL_PLAINTEXT\n")
    cases = [
        (lambda port: ["--listen", f"SSL://127.0.0.1:{port}"], "SSL"),
        (lambda port: ["--listen", f"127.0.0.1:{port}", "--override", f"listeners=SASL_SSL://127.0.0.1:{port}"], "SASL_SSL"),
        (lambda port: ["--listen", f"127.0.0.1:{port}", "--override",
                       f"listeners=PLAINTEXT://127.0.0.1:{port},SSL://127.0.0.1:{port + 1}"], "SSL"),
        (lambda port: ["--config", properties], "SASL_PLAINTEXT"),
    ]
    for args, protocol in cases:
        code, output = run_refused_broker(workdir, args)
        assert code != 0, output
        assert f"uses security protocol {protocol}, which Runnel does not support" in output, output
