"""What the broker does when the disk does not do what it is told (issue 11, items 9, 10, 15).

- Disk full: a real, small tmpfs as the data directory. Appends fail with KAFKA_STORAGE_ERROR
  (56), which librdkafka retries instead of failing messages for good; the log gets a bounded
  number of lines; once space is freed produce works again and nothing acknowledged is lost.
- fsync before acknowledge (flush.messages=1): traced with strace, every acknowledged produce's
  write to the segment is followed by an fdatasync of that file before the response is written.
- A failing fsync, through an LD_PRELOAD shim (faults/fsync_fault.c; device-mapper is not
  available here): consumers never see what is not durable, and after a failed fsync the log
  directory goes offline (56 for produce and fetch) even once fsync works again (fsyncgate),
  until a restart recovers it.
"""
import errno
import os
import re
import shutil
import struct
import subprocess
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import BrokerProcess
from kafka_wire import (Connection, frame, header, parse_produce_response_v3, produce_request_v3, record_batch,
                        string)

KAFKA_STORAGE_ERROR = 56
HERE = os.path.dirname(os.path.abspath(__file__))


def create_topic(bootstrap, name, **config):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1, config=config)])[name].result(10)


def produce_raw(conn, topic, values, correlation_id, acks=1):
    conn.send(produce_request_v3(topic, 0, record_batch(values), acks=acks, correlation_id=correlation_id))
    response = conn.receive()
    assert response is not None, "the broker closed the connection"
    assert struct.unpack_from(">i", response)[0] == correlation_id
    [(partition, error, base_offset)] = parse_produce_response_v3(response)
    return error, base_offset


def fetch_request_v4(topic, offset, correlation_id, max_wait_ms=0):
    body = struct.pack(">iiiib", -1, max_wait_ms, 0, 1 << 20, 0) + struct.pack(">i", 1) + string(topic)
    body += struct.pack(">i", 1) + struct.pack(">iqi", 0, offset, 1 << 20)
    return frame(header(1, 4, correlation_id) + body)


def fetch_raw(conn, topic, offset, correlation_id):
    """(error code, high watermark, record bytes) of partition 0."""
    conn.send(fetch_request_v4(topic, offset, correlation_id))
    payload = conn.receive()
    assert payload is not None
    position = 8  # correlation id, throttle time
    (topics,) = struct.unpack_from(">i", payload, position)
    assert topics == 1
    (name_length,) = struct.unpack_from(">h", payload, position + 4)
    position += 6 + name_length
    (partitions,) = struct.unpack_from(">i", payload, position)
    assert partitions == 1
    _, error, high_watermark, _ = struct.unpack_from(">ihqq", payload, position + 4)
    position += 4 + 22
    (aborted,) = struct.unpack_from(">i", payload, position)
    position += 4 + max(aborted, 0) * 16
    (size,) = struct.unpack_from(">i", payload, position)
    records = payload[position + 4:position + 4 + max(size, 0)]
    return error, high_watermark, records


def read_all(bootstrap, topic, count):
    """(offset, value) of the first `count` records, read by librdkafka."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "fsync-reader", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    records, deadline = [], time.time() + 30
    while len(records) < count and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            records.append((msg.offset(), msg.value()))
    consumer.close()
    return records


# ---------------------------------------------------------------------------------------------
# Item 9: disk full


@pytest.fixture
def small_filesystem(workdir):
    """A real 8 MiB tmpfs; skipped only where mounting is not permitted."""
    mountpoint = os.path.join(workdir, "small-fs")
    os.makedirs(mountpoint)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mountpoint], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill up (needs root/CAP_SYS_ADMIN): {result.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", mountpoint], check=False)


def fill(path):
    """Writes a ballast file until the filesystem is full; returns its size."""
    written = 0
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as ballast:
        while True:
            try:
                written += ballast.write(chunk)
            except OSError as error:
                assert error.errno == errno.ENOSPC, error
                break
            if written > 64 << 20:
                raise AssertionError("the small filesystem never filled up")
    # Single bytes too, so no partial block is left for the broker to fill.
    with open(path + "-tail", "wb", buffering=0) as tail:
        for _ in range(1 << 16):
            try:
                tail.write(b"\0")
            except OSError:
                break
    return written


def test_disk_full_answers_storage_error_logs_little_and_recovers(small_filesystem):
    # The broker's own log goes next to the small filesystem, not on it.
    broker = BrokerProcess(small_filesystem, extra_args=["--override", "log.segment.bytes=1048576"]).start()
    try:
        create_topic(broker.bootstrap, "full")
        conn = Connection(broker)
        acknowledged = {}  # offset -> value
        error, offset = produce_raw(conn, "full", [b"before-the-disk-filled"], 1)
        assert error == 0
        acknowledged[offset] = b"before-the-disk-filled"

        fill(os.path.join(small_filesystem, "ballast"))
        started = time.time()
        codes = []
        for i in range(300):
            value = b"while-full-%03d-" % i + b"x" * 4000
            error, offset = produce_raw(conn, "full", [value], 100 + i)
            codes.append(error)
            if error == 0:
                acknowledged[offset] = value
        failures = sum(1 for code in codes if code != 0)
        assert failures >= 250, codes
        assert set(codes) <= {0, KAFKA_STORAGE_ERROR}, f"a full disk is KAFKA_STORAGE_ERROR, got {sorted(set(codes))}"

        # librdkafka treats 56 as retriable: while the disk is full nothing is failed for good.
        reports = []
        producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": 1, "linger.ms": 0,
                             "message.timeout.ms": 60000, "retry.backoff.ms": 100})
        witness_values = [b"librdkafka-%02d-" % i + b"y" * 4000 for i in range(20)]
        for value in witness_values:
            producer.produce("full", value=value, on_delivery=lambda err, msg: reports.append((err, msg)))
        for _ in range(30):
            producer.poll(0.1)
        assert [err for err, _ in reports if err is not None] == [], "messages failed for good on a full disk"

        # A bounded number of lines: one per partition per interval, not one per failed append.
        elapsed = time.time() - started
        lines = [line for line in broker.read_log().splitlines() if "append to full-0 failed" in line]
        assert 1 <= len(lines) <= 2 + int(elapsed // 10), f"{len(lines)} lines for {failures} failures:\n" + "\n".join(lines[:5])
        assert "No space left on device" in lines[0]

        # Space comes back: the retried messages go through, and produce works again.
        os.remove(os.path.join(small_filesystem, "ballast"))
        producer.flush(30)
        assert len(reports) == len(witness_values) and all(err is None for err, _ in reports), reports
        for err, msg in reports:
            acknowledged[msg.offset()] = msg.value()
        error, offset = produce_raw(conn, "full", [b"after-space-was-freed"], 999)
        assert error == 0
        acknowledged[offset] = b"after-space-was-freed"
        conn.close()

        # Nothing acknowledged is lost, nothing else is there (no torn batch from a short write).
        expected = sorted(acknowledged.items())
        assert read_all(broker.bootstrap, "full", len(expected)) == expected
    finally:
        code = broker.stop()
    assert code == 0, broker.read_log()
    # And after a restart on the same (no longer full) filesystem.
    restarted = BrokerProcess(small_filesystem, port=broker.port).start()
    try:
        assert read_all(restarted.bootstrap, "full", len(expected)) == expected
    finally:
        restarted.stop()


# ---------------------------------------------------------------------------------------------
# Item 15: fsync-before-acknowledge ordering, witnessed by strace

SYSCALL = re.compile(r"^(?P<pid>\d+)\s+\S+\s+(?:<\.\.\. (?P<resumed>\w+) resumed>|(?P<name>\w+)\((?P<args>.*))")


FD_ANNOTATION = re.compile(r"<((?:\\x[0-9a-f]{2})+)>")


def decode_fd_paths(line):
    """strace -xx prints the paths of -yy in hex too; turn them back into text."""
    return FD_ANNOTATION.sub(lambda m: "<" + bytes.fromhex(m[1].replace("\\x", "")).decode(errors="replace") + ">", line)


def parse_trace(path):
    """Events in trace order: (kind, name, pid, line) with kind 'start' (a call begins, finished
    or not) or 'end' (a call returns: a complete line or a resumed one)."""
    events = []
    with open(path, errors="replace") as trace:
        for line in trace:
            line = decode_fd_paths(line)
            match = SYSCALL.match(line)
            if not match:
                continue
            pid = match["pid"]
            if match["resumed"]:
                events.append(("end", match["resumed"], pid, line))
                continue
            events.append(("start", match["name"], pid, line))
            if "<unfinished ...>" not in line:
                events.append(("end", match["name"], pid, line))
    return events


def hex_escaped(data):
    return "".join("\\x%02x" % byte for byte in data)


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_every_acknowledged_produce_is_fdatasynced_before_its_response(workdir):
    trace_path = os.path.join(workdir, "broker.strace")
    broker = BrokerProcess(
        os.path.join(workdir, "data"), extra_args=["--override", "log.flush.interval.messages=1"],
        wrapper=["strace", "-f", "-tt", "-yy", "-xx", "-s", "256", "-o", trace_path,
                 "-e", "trace=pwritev,pwrite64,write,writev,sendmsg,sendto,fdatasync,fsync"]).start()
    try:
        create_topic(broker.bootstrap, "ordered")
        conn = Connection(broker, timeout=30)
        client_port = conn.sock.getsockname()[1]
        values = [b"ordered-record-%03d" % i for i in range(12)]
        for i, value in enumerate(values):
            assert produce_raw(conn, "ordered", [value], 500 + i) == (0, i)
        conn.close()
    finally:
        broker.stop()
    events = parse_trace(trace_path)
    client = f"127.0.0.1:{client_port}]"
    for i, value in enumerate(values):
        # The write of this record into the partition's segment file.
        data_writes = [n for n, (kind, name, _, line) in enumerate(events)
                       if kind == "start" and name in ("pwritev", "pwrite64") and hex_escaped(value) in line]
        assert len(data_writes) == 1, f"record {i}: {len(data_writes)} segment writes"
        write_index = data_writes[0]
        segment = re.search(r"\((\d+)<([^>]*ordered-0/\d+\.log)>", events[write_index][3])
        assert segment, events[write_index][3]
        # The response: the first write to the client's socket after the data write.
        responses = [n for n, (kind, name, _, line) in enumerate(events)
                     if n > write_index and kind == "start" and name in ("write", "writev", "sendmsg", "sendto")
                     and client in line]
        assert responses, f"record {i}: no response written after its data"
        response_index = responses[0]
        assert hex_escaped(struct.pack(">i", 500 + i)) in events[response_index][3], \
            f"record {i}: the next response on the socket is not its own"
        # An fdatasync/fsync of that very file, returned with success, in between.
        synced = False
        pending = {}
        for n in range(write_index + 1, response_index):
            kind, name, pid, line = events[n]
            if name not in ("fdatasync", "fsync"):
                continue
            if kind == "start":
                pending[pid] = line
            elif kind == "end":
                started = pending.pop(pid, line)
                if f"<{segment[2]}>" in started and re.search(r"= 0\s*$", line.split("resumed>")[-1]):
                    synced = True
        assert synced, f"record {i} (offset {i}) was acknowledged before an fdatasync of {segment[2]} returned"


# ---------------------------------------------------------------------------------------------
# Item 10: a failing fsync, through an LD_PRELOAD shim


@pytest.fixture
def fsync_fault_library(workdir):
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        pytest.skip("no C compiler to build the fsync fault shim")
    library = os.path.join(workdir, "fsync_fault.so")
    subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", library, os.path.join(HERE, "faults", "fsync_fault.c"), "-ldl"],
                   check=True)
    return library


def wait_until(predicate, what, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting until " + what)


def test_failed_fsync_hides_undurable_records_and_takes_the_directory_offline(workdir, fsync_fault_library, monkeypatch):
    control = os.path.join(workdir, "fsync-control")
    os.makedirs(control)
    data = os.path.join(workdir, "data")
    monkeypatch.setenv("LD_PRELOAD", fsync_fault_library)
    monkeypatch.setenv("RUNNEL_FSYNC_FAULT_DIR", control)
    broker = BrokerProcess(data).start()
    monkeypatch.delenv("LD_PRELOAD")
    try:
        create_topic(broker.bootstrap, "synced", **{"flush.messages": "1"})
        conn = Connection(broker, timeout=30)
        assert produce_raw(conn, "synced", [b"durable"], 1) == (0, 0)
        segment = os.path.join(data, "synced-0", "%020d.log" % 0)
        durable_size = os.path.getsize(segment)

        # The disk is slow: the next record is written but its fsync has not returned.
        open(os.path.join(control, "hold"), "w").close()
        conn.send(produce_request_v3("synced", 0, record_batch([b"not-yet-durable"]), acks=1, correlation_id=2))
        wait_until(lambda: os.path.getsize(segment) > durable_size, "the second record is written")
        reader = Connection(broker)
        error, high_watermark, records = fetch_raw(reader, "synced", 1, 10)
        assert (error, high_watermark) == (0, 1), "a consumer can see a record that is not durable yet"
        assert records == b""

        # The fsync fails. The producer is told, with a retriable storage error.
        open(os.path.join(control, "fail"), "w").close()
        os.remove(os.path.join(control, "hold"))
        response = conn.receive()
        [(partition, error, _)] = parse_produce_response_v3(response)
        assert (partition, error) == (0, KAFKA_STORAGE_ERROR)

        # The disk works again, but the directory stays offline: no later fsync can vouch for
        # the bytes the failed one covered. Produce and fetch both answer 56.
        os.remove(os.path.join(control, "fail"))
        assert produce_raw(conn, "synced", [b"after-the-failure"], 3)[0] == KAFKA_STORAGE_ERROR
        assert fetch_raw(reader, "synced", 0, 11)[0] == KAFKA_STORAGE_ERROR
        offline_lines = [line for line in broker.read_log().splitlines() if "is offline" in line]
        assert len(offline_lines) == 1 and " error " in offline_lines[0], offline_lines
        conn.close()
        reader.close()
    except BaseException:
        broker.kill()
        raise
    broker.stop()
    assert "cleanshutdown" not in " ".join(os.listdir(data)), "an offline directory must be recovered at the next start"

    # A restart (no faults now) recovers the directory from disk; what was acknowledged is there.
    restarted = BrokerProcess(data, port=broker.port).start()
    try:
        conn = Connection(restarted)
        records = read_all(restarted.bootstrap, "synced", 1)
        assert records[0] == (0, b"durable")
        error, offset = produce_raw(conn, "synced", [b"after-the-restart"], 4)
        assert error == 0
        conn.close()
    finally:
        restarted.stop()
