"""Damaged files between runs of a real broker (issue 11, items 6, 7, 8 and 11).

Files are damaged while the broker is down, the way an operator's disk or tools would: bytes
cut off the end of a middle segment after a clean shutdown, one shifted offset-index entry,
emptied or truncated checkpoints, a broken cluster-metadata.json, and a second broker started
on a live data directory. confluent-kafka (librdkafka) and kcat are the witnesses that every
intact acknowledged record is still served, from wherever a consumer starts.
"""
import glob
import os
import re
import struct
import subprocess
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import BrokerProcess

TOPIC = "damaged"
# Small segments and dense indexes: many segments, several index entries each, in a second.
SMALL_SEGMENTS = ["--override", "log.segment.bytes=16384", "--override", "log.index.interval.bytes=1024"]


def produce_acknowledged(bootstrap, count):
    """Produces `count` records with acks=all; returns {offset: value} of those acknowledged."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])[TOPIC].result(10)
    acked = {}
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "batch.num.messages": 20})
    for i in range(count):
        value = f"record {i:05d} ".encode() + b"x" * (i % 97)
        producer.produce(TOPIC, value=value, on_delivery=lambda err, msg: (
            err is None and acked.__setitem__(msg.offset(), msg.value())))
        if i % 200 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0
    assert len(acked) == count
    return acked


def consume_from(bootstrap, offset, until_offset):
    """Every record from `offset` on, up to (not including) `until_offset`, as {offset: value}."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"witness-{offset}-{time.time()}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    consumer.assign([TopicPartition(TOPIC, 0, offset)])
    seen = {}
    deadline = time.time() + 30
    try:
        while time.time() < deadline:
            msg = consumer.poll(1)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == -191:  # _PARTITION_EOF: everything up to the end is read
                    break
                raise AssertionError(msg.error())
            if msg.offset() >= until_offset:
                break
            seen[msg.offset()] = msg.value()
        return seen
    finally:
        consumer.close()


def first_record_from(bootstrap, offset):
    """The offset of the first record a consumer starting at `offset` receives."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"first-{offset}-{time.time()}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(TOPIC, 0, offset)])
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            msg = consumer.poll(1)
            if msg is not None:
                assert msg.error() is None, msg.error()
                return msg.offset()
        raise AssertionError(f"nothing served from offset {offset}")
    finally:
        consumer.close()


def kcat_offsets(bootstrap, start, count=None):
    args = ["kcat", "-b", bootstrap, "-t", TOPIC, "-p", "0", "-C", "-e", "-o", str(start), "-f", "%o\n"]
    if count is not None:
        args += ["-c", str(count)]
    out = subprocess.run(args, capture_output=True, timeout=30, check=True).stdout.decode()
    return [int(line) for line in out.split()]


def segments(data_dir):
    return sorted(glob.glob(os.path.join(data_dir, f"{TOPIC}-0", "*.log")))


def base_of(path):
    return int(os.path.basename(path).split(".")[0])


def batches(path):
    """(position, base offset, last offset) of each batch in a segment file, read independently."""
    with open(path, "rb") as f:
        data = f.read()
    out, position = [], 0
    while position + 61 <= len(data):
        base, length = struct.unpack(">qi", data[position:position + 12])
        last_delta = struct.unpack(">i", data[position + 23:position + 27])[0]
        if position + 12 + length > len(data):
            break
        out.append((position, base, base + last_delta))
        position += 12 + length
    return out


def clean_broker_with_records(workdir, count):
    data = os.path.join(workdir, "data")
    broker = BrokerProcess(data, extra_args=SMALL_SEGMENTS).start()
    acked = produce_acknowledged(broker.bootstrap, count)
    assert broker.stop() == 0 and "stopped cleanly" in broker.read_log()
    return data, broker, acked


def test_bytes_cut_off_a_middle_segment_lose_only_its_last_batch(workdir):
    data, broker, acked = clean_broker_with_records(workdir, 3000)
    files = segments(data)
    assert len(files) >= 5, files
    victim, after = files[2], files[3]
    last_batch = batches(victim)[-1]
    first_lost, next_base = last_batch[1], base_of(after)
    size = os.path.getsize(victim)
    with open(victim, "r+b") as f:
        f.truncate(size - 3)

    broker = BrokerProcess(data, port=broker.port, extra_args=SMALL_SEGMENTS).start()
    try:
        log = broker.read_log().split("stopped cleanly", 1)[1]
        # Error lines name the file, the offsets lost and the bytes; the summary never says clean.
        cut = size - 3 - last_batch[0]
        assert re.search(rf"error.*{re.escape(victim)}: cut {cut} bytes .*offsets {first_lost} to {next_base - 1}", log), log
        summary = [line for line in log.splitlines() if re.search(r"loaded \d+ partitions from", line)]
        assert summary and "clean shutdown" not in summary[0] and "DAMAGED" in summary[0], summary
        corrupt = glob.glob(victim + ".*.corrupt")
        assert len(corrupt) == 1 and os.path.getsize(corrupt[0]) == cut

        # Every acknowledged record outside the cut batch is served; later segments are intact.
        intact = {o: v for o, v in acked.items() if not first_lost <= o < next_base}
        assert len(acked) - len(intact) <= 20
        assert consume_from(broker.bootstrap, 0, len(acked)) == intact
        assert kcat_offsets(broker.bootstrap, 0) == sorted(intact)
        # A consumer starting inside the lost range gets the next batch there is.
        assert first_record_from(broker.bootstrap, first_lost) == next_base
        assert kcat_offsets(broker.bootstrap, first_lost, count=1) == [next_base]
    finally:
        assert broker.stop() == 0
    # The .corrupt file is never loaded and never deleted; nothing more is cut.
    broker = BrokerProcess(data, port=broker.port, extra_args=SMALL_SEGMENTS).start()
    try:
        assert len(glob.glob(victim + ".*.corrupt")) == 1
        assert "(clean shutdown)" in broker.read_log().split("stopped cleanly")[-1]
    finally:
        assert broker.stop() == 0


def test_a_shifted_index_entry_makes_no_consumer_skip_records(workdir):
    data, broker, acked = clean_broker_with_records(workdir, 3000)
    files = segments(data)
    victim = files[2][:-len(".log")] + ".index"
    with open(victim, "rb") as f:
        index = f.read()
    entries = [struct.unpack(">II", index[i:i + 8]) for i in range(0, len(index), 8)]
    assert len(entries) >= 4, entries
    k = len(entries) // 2
    base = base_of(victim)
    # Entry k now points at entry k+1's batch while still claiming entry k's offset.
    shifted = index[:k * 8] + struct.pack(">II", entries[k][0], entries[k + 1][1]) + index[(k + 1) * 8:]
    with open(victim, "wb") as f:
        f.write(shifted)
    skipped_range = range(base + entries[k][0], base + entries[k + 1][0])

    broker = BrokerProcess(data, port=broker.port, extra_args=SMALL_SEGMENTS).start()
    try:
        for start in [skipped_range[0], skipped_range[len(skipped_range) // 2], skipped_range[-1]]:
            got = consume_from(broker.bootstrap, start, start + 50)
            assert sorted(got) == list(range(start, start + 50)), f"consumer from {start} got {sorted(got)[:3]}..."
            assert all(got[o] == acked[o] for o in got)
            assert kcat_offsets(broker.bootstrap, start, count=1) == [start]
        assert consume_from(broker.bootstrap, 0, len(acked)) == acked
    finally:
        assert broker.stop() == 0
    # The index was rebuilt from the log: the shifted entry is gone.
    with open(victim, "rb") as f:
        assert f.read() == index


def test_empty_and_truncated_checkpoints_are_rebuilt_from_the_data(workdir):
    data, broker, acked = clean_broker_with_records(workdir, 1500)
    damaged = {
        "recovery-point-offset-checkpoint": b"",
        "log-start-offset-checkpoint": b"0\n",
        "replication-offset-checkpoint": b"0\n1\ndamaged 0 1",  # cut inside the last number
        f"{TOPIC}-0/leader-epoch-checkpoint": b"",
    }
    for name, contents in damaged.items():
        with open(os.path.join(data, name), "wb") as f:
            f.write(contents)

    broker = BrokerProcess(data, port=broker.port, extra_args=SMALL_SEGMENTS).start()
    try:
        log = broker.read_log().split("stopped cleanly", 1)[1]
        for name in damaged:
            assert re.search(rf"warning.*{re.escape(os.path.join(data, name))}", log), (name, log)
        assert "recovered after an unclean shutdown" in log, "an unreadable recovery point forces recovery"
        assert consume_from(broker.bootstrap, 0, len(acked)) == acked
        assert kcat_offsets(broker.bootstrap, 0) == sorted(acked)
        with open(os.path.join(data, f"{TOPIC}-0", "leader-epoch-checkpoint")) as f:
            assert f.read() == "0\n1\n0 0\n"
    finally:
        assert broker.stop() == 0


def test_a_broken_cluster_metadata_file_is_named(workdir):
    data, broker, _ = clean_broker_with_records(workdir, 10)
    path = os.path.join(data, "cluster-metadata.json")
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    with open(broker.log_path, "ab") as log:
        code = subprocess.run([broker.process.args[0], "broker", "--data-dir", data, "--listen", broker.bootstrap],
                              stdout=log, stderr=subprocess.STDOUT, timeout=30).returncode
    assert code != 0
    assert path in broker.read_log().split("stopped cleanly", 1)[1]


def test_a_second_broker_on_a_live_directory_exits_naming_it(workdir):
    data = os.path.join(workdir, "data")
    first = BrokerProcess(data, extra_args=SMALL_SEGMENTS).start()
    try:
        acked = produce_acknowledged(first.bootstrap, 300)
        second = BrokerProcess(data, extra_args=SMALL_SEGMENTS)
        with open(second.log_path, "ab") as log:
            result = subprocess.run([first.process.args[0], "broker", "--data-dir", data, "--listen", second.bootstrap],
                                    stdout=log, stderr=subprocess.STDOUT, timeout=30)
        assert result.returncode != 0
        assert f"log directory {data} is in use" in second.read_log(), second.read_log()
        # The live broker goes on serving and accepting; nothing of it was touched.
        assert consume_from(first.bootstrap, 0, len(acked)) == acked
        more = Producer({"bootstrap.servers": first.bootstrap, "acks": "all"})
        more.produce(TOPIC, value=b"after")
        assert more.flush(10) == 0
    finally:
        assert first.stop() == 0
    restarted = BrokerProcess(data, port=first.port, extra_args=SMALL_SEGMENTS).start()
    try:
        assert "(clean shutdown)" in restarted.read_log().split("stopped cleanly")[-1]
        assert kcat_offsets(restarted.bootstrap, 0) == list(range(len(acked) + 1))
    finally:
        assert restarted.stop() == 0


def test_a_directory_of_another_broker_or_cluster_is_refused(workdir):
    # meta.properties records which broker of which cluster a data directory belongs to: a
    # broker started on it with another id, or after the cluster's metadata was replaced, exits
    # naming the file instead of serving someone else's logs as its own.
    data = os.path.join(workdir, "data")
    first = BrokerProcess(data).start()
    try:
        acked = produce_acknowledged(first.bootstrap, 10)
    finally:
        assert first.stop() == 0
    properties = os.path.join(data, "meta.properties")
    with open(properties) as f:
        text = f.read()
    assert "node.id=1" in text and "version=1" in text

    other_id = BrokerProcess(data, extra_args=["--override", "node.id=2"])
    with open(other_id.log_path, "ab") as log:
        result = subprocess.run([first.process.args[0], "broker", "--data-dir", data, "--listen", other_id.bootstrap,
                                 "--override", "node.id=2"], stdout=log, stderr=subprocess.STDOUT, timeout=30)
    assert result.returncode != 0
    assert f"belongs to broker 1 ({properties})" in other_id.read_log(), other_id.read_log()

    with open(properties, "w") as f:
        f.write(text.replace("cluster.id=", "cluster.id=x"))
    other_cluster = BrokerProcess(data)
    with open(other_cluster.log_path, "ab") as log:
        result = subprocess.run([first.process.args[0], "broker", "--data-dir", data, "--listen", other_cluster.bootstrap],
                                stdout=log, stderr=subprocess.STDOUT, timeout=30)
    assert result.returncode != 0
    assert "belongs to cluster x" in other_cluster.read_log(), other_cluster.read_log()

    with open(properties, "w") as f:
        f.write(text)
    again = BrokerProcess(data, port=first.port).start()
    try:
        assert kcat_offsets(again.bootstrap, 0) == list(range(len(acked)))
    finally:
        assert again.stop() == 0
