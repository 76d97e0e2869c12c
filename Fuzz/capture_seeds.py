#!/usr/bin/env python3
"""Captures the seed corpora of the fuzz targets (Fuzz/corpus/<target>/) from real clients.

Runs a real `runnel broker` behind a loopback TCP proxy that it advertises, so every client
connection goes through the proxy, which saves each request frame (size prefix included) that
confluent-kafka (librdkafka), kcat and kafka-python send. Then:
  request-path/  one file per distinct (client, API key, version) request frame;
  record-batch/  the flags byte 0 and one produced RecordBatch: those the clients sent (every codec)
                 and kafka-python's DefaultRecordBatchBuilder's, with every codec;
  log-loader/    small partition directories the broker wrote (several segments with their
                 indexes, the leader-epoch checkpoint and producer snapshots), in the chunk format
                 of Fuzz/LogLoading.swift.
Usage: Fuzz/capture_seeds.py [path/to/runnel]   (default .build/debug/runnel)
"""
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "Fuzz", "corpus")
RUNNEL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build", "debug", "runnel")
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proxy:
    """Forwards loopback connections to the broker, splitting what clients send into frames."""

    def __init__(self, broker_port):
        self.broker_port = broker_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.client = "unknown"
        self.frames = []  # (client, frame bytes with size prefix)
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.broker_port))
            client = self.client
            threading.Thread(target=self.pump, args=(downstream, upstream, client), daemon=True).start()
            threading.Thread(target=self.pump, args=(upstream, downstream, None), daemon=True).start()

    def pump(self, source, sink, client):
        pending = b""
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data:
                for s in (source, sink):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return
            if client is not None:
                pending += data
                while len(pending) >= 4:
                    size = struct.unpack(">i", pending[:4])[0]
                    if len(pending) < 4 + size:
                        break
                    with self.lock:
                        self.frames.append((client, pending[:4 + size]))
                    pending = pending[4 + size:]
            try:
                sink.sendall(data)
            except OSError:
                return


def start_broker(data_dir, port, proxy_port, overrides=()):
    args = [RUNNEL, "broker", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}",
            "--advertise", f"127.0.0.1:{proxy_port}"]
    for override in overrides:
        args += ["--override", override]
    log = open(os.path.join(os.path.dirname(data_dir), "broker.log"), "ab")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("broker did not start")


def run_confluent(bootstrap):
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic("seeds", 2, 1, config={"segment.bytes": "1024", "index.interval.bytes": "256"})]).values():
        future.result(10)
    for codec in CODECS:
        producer = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "enable.idempotence": True,
                             "linger.ms": 5})
        for i in range(20):
            producer.produce("seeds", key=f"k{i}".encode(), value=(f"{codec} value {i} " * 4).encode(),
                             headers=[("h", b"v"), ("n", None)], partition=i % 2)
        producer.flush(10)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "seed-group", "auto.offset.reset": "earliest"})
    consumer.subscribe(["seeds"])
    seen = 0
    deadline = time.time() + 15
    while seen < 100 and time.time() < deadline:
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            seen += 1
    consumer.commit(asynchronous=False)
    consumer.offsets_for_times([TopicPartition("seeds", 0, 0)], 5)
    consumer.close()
    # KIP-848: ConsumerGroupHeartbeat.
    try:
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "seed-848", "group.protocol": "consumer",
                             "auto.offset.reset": "earliest"})
        consumer.subscribe(["seeds"])
        deadline = time.time() + 5
        while time.time() < deadline:
            consumer.poll(0.5)
        consumer.close()
    except Exception as error:  # an older librdkafka: skip
        print("KIP-848 consumer skipped:", error)
    resource = ConfigResource(ConfigResource.Type.TOPIC, "seeds")
    admin.describe_configs([resource])[resource].result(10)
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry
    incremental = ConfigResource(ConfigResource.Type.TOPIC, "seeds", incremental_configs=[
        ConfigEntry("retention.ms", "86400000", incremental_operation=AlterConfigOpType.SET)])
    for future in admin.incremental_alter_configs([incremental]).values():
        future.result(10)
    for future in admin.create_partitions([NewPartitions("seeds", 3)]).values():
        future.result(10)
    admin.list_consumer_groups().result(10)
    for future in admin.describe_consumer_groups(["seed-group"]).values():
        future.result(10)
    admin.describe_cluster().result(10)
    for future in admin.delete_records([TopicPartition("seeds", 0, 1)]).values():
        future.result(10)
    for future in admin.delete_consumer_groups(["seed-group"]).values():
        try:
            future.result(10)
        except Exception as error:
            print("delete_consumer_groups:", error)
    for future in admin.create_topics([NewTopic("gone", 1, 1)]).values():
        future.result(10)
    for future in admin.delete_topics(["gone"]).values():
        future.result(10)


def run_kcat(bootstrap):
    def kcat(*args, stdin=None):
        subprocess.run(["kcat", "-b", bootstrap, *args], input=stdin, timeout=30, capture_output=True)
    kcat("-L")
    for codec in CODECS:
        kcat("-P", "-t", "seeds", "-z", codec, "-k", "key", stdin=b"".join(b"kcat %s %d\n" % (codec.encode(), i) for i in range(10)))
    kcat("-C", "-t", "seeds", "-o", "beginning", "-e", "-c", "30")
    kcat("-Q", "-t", "seeds:0:0")
    kcat("-C", "-G", "kcat-group", "seeds", "-o", "beginning", "-e", "-c", "5")


def run_kafka_python(bootstrap):
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
    for codec in CODECS:
        producer = KafkaProducer(bootstrap_servers=bootstrap, compression_type=None if codec == "none" else codec)
        for i in range(10):
            producer.send("seeds", key=b"kp", value=b"kafka-python %d" % i, headers=[("x", b"y")])
        producer.flush(10)
        producer.close()
    consumer = KafkaConsumer("seeds", bootstrap_servers=bootstrap, group_id="kp-group", auto_offset_reset="earliest",
                             consumer_timeout_ms=3000)
    for _ in consumer:
        pass
    consumer.commit()
    consumer.close()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.list_topics()
    admin.describe_cluster()
    admin.list_consumer_groups()
    from kafka.admin import ConfigResource, ConfigResourceType
    for call in (lambda: admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "seeds",
                                                             configs={"retention.ms": "86400000"})]),
                 lambda: admin.describe_log_dirs(),
                 lambda: admin.delete_consumer_groups(["kp-group"])):
        try:
            call()
        except Exception as error:
            print("kafka-python admin:", error)
    admin.close()


def record_batch_builder_seeds():
    from kafka.record.default_records import DefaultRecordBatchBuilder
    from kafka.record.default_records import DefaultRecordBatch
    ids = {"none": 0, "gzip": DefaultRecordBatch.CODEC_GZIP, "snappy": DefaultRecordBatch.CODEC_SNAPPY,
           "lz4": DefaultRecordBatch.CODEC_LZ4, "zstd": DefaultRecordBatch.CODEC_ZSTD}
    seeds = {}
    for codec, codec_id in ids.items():
        for transactional, producer_id in ((False, -1), (True, 7)):
            builder = DefaultRecordBatchBuilder(magic=2, compression_type=codec_id, is_transactional=transactional,
                                                producer_id=producer_id, producer_epoch=0, base_sequence=0,
                                                batch_size=1 << 20)
            for i in range(5):
                builder.append(i, timestamp=1_700_000_000_000 + i, key=b"key%d" % i if i % 2 else None,
                               value=b"value %d " % i * 3, headers=[("h%d" % i, b"v")] if i % 3 else [])
            seeds[f"kafka-python-builder-{codec}{'-transactional' if transactional else ''}"] = bytes(builder.build())
    return seeds


def batches_of(record_set):
    """The RecordBatches of a record set, whole ones only."""
    position = 0
    while position + 12 <= len(record_set):
        length = struct.unpack(">i", record_set[position + 8:position + 12])[0]
        if length < 49 or position + 12 + length > len(record_set):
            return
        yield record_set[position:position + 12 + length]
        position += 12 + length


def produce_record_sets(frame):
    """The record sets of a Produce request frame (v3+), parsed just far enough."""
    body = frame[4:]
    api_key, version = struct.unpack(">hh", body[:4])
    if api_key != 0 or version < 3:
        return []
    flexible = version >= 9
    position = 8
    sets = []

    def uvarint():
        nonlocal position
        shift = value = 0
        while True:
            byte = body[position]
            position += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    def string():
        nonlocal position
        if flexible:
            length = uvarint() - 1
        else:
            length = struct.unpack(">h", body[position:position + 2])[0]
            position += 2
        position += max(length, 0)

    def tagged():
        for _ in range(uvarint()):
            uvarint()
            position_skip(uvarint())

    def position_skip(n):
        nonlocal position
        position += n

    def count():
        nonlocal position
        if flexible:
            return uvarint() - 1
        value = struct.unpack(">i", body[position:position + 4])[0]
        position += 4
        return value

    client_id = struct.unpack(">h", body[position:position + 2])[0]  # int16 in every header version
    position += 2 + max(client_id, 0)
    if flexible:
        tagged()
    string()  # transactional id
    position += 6  # acks, timeout
    for _ in range(count()):
        string()  # topic name (topic id only from v13)
        for _ in range(count()):
            position += 4  # partition
            length = count()
            if length > 0:
                sets.append(body[position:position + length])
                position += length
            if flexible:
                tagged()
        if flexible:
            tagged()
    return sets


def write(directory, name, data):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def log_loader_chunk(kind, base, data):
    return struct.pack(">BqH", kind, base, len(data)) + data


def partition_images(data_dir):
    """Each partition directory of the broker as one log-loader input (files of at most 64 KiB)."""
    kinds = {".log": 0, ".index": 1, ".timeindex": 2, ".snapshot": 4}
    for name in sorted(os.listdir(data_dir)):
        directory = os.path.join(data_dir, name)
        if not os.path.isdir(directory):
            continue
        chunks = []
        for file in sorted(os.listdir(directory)):
            path = os.path.join(directory, file)
            with open(path, "rb") as f:
                data = f.read()
            stem, suffix = os.path.splitext(file)
            if file == "leader-epoch-checkpoint":
                chunks.append(log_loader_chunk(3, 0, data[:65535]))
            elif suffix in kinds and stem.isdigit():
                if suffix in (".index", ".timeindex"):
                    # Indexes may be preallocated: keep the entries (8 or 12 bytes), not the zeros.
                    entry = 8 if suffix == ".index" else 12
                    used = len(data.rstrip(b"\0"))
                    data = data[:(used + entry - 1) // entry * entry]
                chunks.append(log_loader_chunk(kinds[suffix], int(stem), data[:65535]))
        if chunks:
            yield name, b"".join(chunks)


def main():
    scratch = tempfile.mkdtemp(prefix="runnel-seeds-")
    data_dir = os.path.join(scratch, "data")
    port = free_port()
    proxy = Proxy(port)
    broker = start_broker(data_dir, port, proxy.port, overrides=["group.initial.rebalance.delay.ms=0"])
    bootstrap = f"127.0.0.1:{proxy.port}"
    try:
        for client, run in (("confluent-kafka", run_confluent), ("kcat", run_kcat), ("kafka-python", run_kafka_python)):
            proxy.client = client
            try:
                run(bootstrap)
            except Exception as error:
                print(f"{client}: {error!r}")
            time.sleep(0.5)
    finally:
        broker.terminate()
        broker.wait(30)

    seen = set()
    batches = {}
    with proxy.lock:
        frames = list(proxy.frames)
    for client, frame in frames:
        if len(frame) < 8:
            continue
        api_key, version = struct.unpack(">hh", frame[4:8])
        for record_set in produce_record_sets(frame):
            for batch in batches_of(record_set):
                codec = ["none", "gzip", "snappy", "lz4", "zstd"][batch[22] & 0x07] if batch[22] & 0x07 < 5 else "x"
                batches.setdefault(f"{client}-{codec}", batch)
        if (client, api_key, version) in seen:
            continue
        seen.add((client, api_key, version))
        write(os.path.join(CORPUS, "request-path"), f"{client}-key{api_key}-v{version}", frame)
    for name, batch in list(batches.items()) + list(record_batch_builder_seeds().items()):
        write(os.path.join(CORPUS, "record-batch"), name, b"\0" + batch)
    for name, image in partition_images(data_dir):
        # The group coordinator's partitions are mostly empty: keep those with records.
        if len(image) <= 64 * 1024 and (not name.startswith("__consumer_offsets") or len(image) > 100):
            write(os.path.join(CORPUS, "log-loader"), f"broker-{name}", image)
    print(f"{len(seen)} request frames, {len(batches)} client batches, data in {scratch}")


if __name__ == "__main__":
    main()
