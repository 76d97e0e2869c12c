"""`__consumer_offsets` is a compacted topic in Kafka's own record format.

Committed offsets are read straight from the topic with confluent-kafka and decoded here with
an independent implementation of Kafka's schemas (OffsetCommitKey, OffsetCommitValue), as lag
checkers such as Burrow do; the log cleaner compacts the topic; and a data directory holding
records in Runnel's older format still loads, its groups rewritten in Kafka's format.
"""
import os
import re
import struct
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from conftest import BrokerProcess

OFFSETS = "__consumer_offsets"


def java_hash(text):
    """Java's String.hashCode, which Kafka uses to place a group in a partition."""
    value = 0
    units = text.encode("utf-16-be")
    for index in range(0, len(units), 2):
        value = (31 * value + int.from_bytes(units[index:index + 2], "big")) & 0xFFFFFFFF
    return value


def partition_for(group, partitions):
    return (java_hash(group) & 0x7FFFFFFF) % partitions


def read_string(data, position):
    (length,) = struct.unpack_from(">h", data, position)
    position += 2
    if length < 0:
        return None, position
    return data[position:position + length].decode(), position + length


def decode_key(key):
    """Kafka's coordinator keys: (1, group, topic, partition) for an offset commit (versions 0
    and 1), (2, group) for a group."""
    (version,) = struct.unpack_from(">h", key, 0)
    group, position = read_string(key, 2)
    if version in (0, 1):
        topic, position = read_string(key, position)
        (partition,) = struct.unpack_from(">i", key, position)
        assert position + 4 == len(key)
        return (1, group, topic, partition)
    assert version == 2 and position == len(key), key
    return (2, group)


def decode_offset_commit_value(value):
    (version,) = struct.unpack_from(">h", value, 0)
    (offset,) = struct.unpack_from(">q", value, 2)
    position = 10
    epoch = -1
    if version >= 3:
        (epoch,) = struct.unpack_from(">i", value, position)
        position += 4
    metadata, position = read_string(value, position)
    (timestamp,) = struct.unpack_from(">q", value, position)
    return {"version": version, "offset": offset, "leader_epoch": epoch, "metadata": metadata, "timestamp": timestamp}


def read_partition(bootstrap, partition):
    """Every record of one `__consumer_offsets` partition: (offset, key, value)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "offsets-reader", "enable.auto.commit": False,
                         "enable.partition.eof": True})
    try:
        consumer.assign([TopicPartition(OFFSETS, partition, OFFSET_BEGINNING)])
        records = []
        deadline = time.time() + 20
        while time.time() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    return records
                raise AssertionError(message.error())
            records.append((message.offset(), message.key(), message.value()))
        raise AssertionError("did not reach the end of the partition")
    finally:
        consumer.close()


def commit(bootstrap, group, offsets):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, partition, offset) for topic, partition, offset in offsets], asynchronous=False)
    finally:
        consumer.close()


def committed(bootstrap, group, topic, partition):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        return consumer.committed([TopicPartition(topic, partition)], timeout=10)[0].offset
    finally:
        consumer.close()


def produce_one(bootstrap, topic):
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, key=b"k", value=b"v")
    assert producer.flush(10) == 0


def test_committed_offsets_are_kafka_records_in_a_compacted_topic(broker):
    produce_one(broker.bootstrap, "orders")
    commit(broker.bootstrap, "billing", [("orders", 0, 7)])
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    described = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, OFFSETS)])
    configs = list(described.values())[0].result(10)
    assert configs["cleanup.policy"].value == "compact"
    records = read_partition(broker.bootstrap, partition_for("billing", 50))
    commits = [decode_offset_commit_value(value) for _, key, value in records if decode_key(key) == (1, "billing", "orders", 0)]
    assert commits and commits[-1]["offset"] == 7 and commits[-1]["version"] == 3
    assert commits[-1]["timestamp"] > 1_600_000_000_000


def test_the_log_cleaner_compacts_consumer_offsets_and_groups_resume_after_a_crash(workdir):
    args = ["--override", "offsets.topic.num.partitions=1", "--override", "log.cleaner.backoff.ms=100"]
    broker = BrokerProcess(os.path.join(workdir, "data"), extra_args=args).start()
    try:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        # The commits below name three partitions: they must exist (a commit for a partition the
        # cluster does not have is refused, as Kafka refuses it).
        admin.create_topics([NewTopic("orders", num_partitions=3, replication_factor=1)])["orders"].result(10)
        resource = ConfigResource(ConfigResource.Type.TOPIC, OFFSETS, incremental_configs=[
            ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
            for name, value in (("segment.bytes", "16384"), ("segment.ms", "200"), ("min.cleanable.dirty.ratio", "0.01"))])
        admin.incremental_alter_configs([resource])[resource].result(10)
        consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "busy", "enable.auto.commit": False})
        for offset in range(1, 1201):
            consumer.commit(offsets=[TopicPartition("orders", partition, offset) for partition in range(3)], asynchronous=False)
        time.sleep(0.3)
        consumer.commit(offsets=[TopicPartition("orders", partition, 1500) for partition in range(3)], asynchronous=False)
        consumer.close()
        deadline = time.time() + 30
        while time.time() < deadline and not re.search(r"log cleaner: __consumer_offsets-0: cleaned", broker.read_log()):
            time.sleep(0.2)
        assert re.search(r"log cleaner: __consumer_offsets-0: cleaned", broker.read_log()), broker.read_log()[-3000:]
        keys = [decode_key(key) for _, key, _ in read_partition(broker.bootstrap, 0)]
        # 3,600 commits; what is left is about one record per key (the active segment aside).
        assert len(keys) < 600, len(keys)
    finally:
        # A crash, not a clean stop: the last commits must be durable in the compacted log.
        broker.kill()
    restarted = BrokerProcess(os.path.join(workdir, "data"), extra_args=args).start()
    try:
        assert [committed(restarted.bootstrap, "busy", "orders", partition) for partition in range(3)] == [1500] * 3
    finally:
        assert restarted.stop() == 0


CRC32C_TABLE = []
for _byte in range(256):
    _crc = _byte
    for _ in range(8):
        _crc = (_crc >> 1) ^ 0x82F63B78 if _crc & 1 else _crc >> 1
    CRC32C_TABLE.append(_crc)


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc = CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def varint(value):
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def record_batch(base_offset, key, value, timestamp):
    """A RecordBatch v2 holding one record, as Kafka's format defines it."""
    body = b"\x00" + varint(0) + varint(0) + varint(len(key)) + key + varint(len(value)) + value + varint(0)
    record = varint(len(body)) + body
    after_crc = struct.pack(">hiqqqhii", 0, 0, timestamp, timestamp, -1, -1, -1, 1) + record
    header = struct.pack(">qiib", base_offset, 4 + 1 + 4 + len(after_crc), 0, 2)
    return header + struct.pack(">I", crc32c(after_crc)) + after_crc


def string32(text):
    return struct.pack(">i", len(text)) + text.encode()


def test_records_in_runnels_older_format_load_and_are_rewritten_in_kafkas(workdir):
    args = ["--override", "offsets.topic.num.partitions=1"]
    data = os.path.join(workdir, "data")
    broker = BrokerProcess(data, extra_args=args).start()
    produce_one(broker.bootstrap, "orders")
    assert broker.stop() == 0
    # What a broker from before wrote for a commit of orders-0 at 42 by group "veteran".
    segment = os.path.join(data, OFFSETS + "-0", "00000000000000000000.log")
    assert os.path.getsize(segment) == 0
    key = struct.pack(">h", 1) + string32("veteran") + string32("orders") + struct.pack(">i", 0)
    value = struct.pack(">qi", 42, 0) + string32("") + struct.pack(">q", int(time.time() * 1000))
    with open(segment, "ab") as f:
        f.write(record_batch(0, key, value, int(time.time() * 1000)))
    restarted = BrokerProcess(data, extra_args=args).start()
    try:
        assert committed(restarted.bootstrap, "veteran", "orders", 0) == 42
        deadline = time.time() + 20
        while time.time() < deadline and "in Kafka's format; log start is now" not in restarted.read_log():
            time.sleep(0.2)
        log = restarted.read_log()
        assert "holds 1 records in Runnel's older format" in log and "in Kafka's format; log start is now" in log, log[-3000:]
        records = read_partition(restarted.bootstrap, 0)
        assert records and records[0][0] >= 1, "the older record is still served"
        decoded = {decode_key(key): decode_offset_commit_value(value) for _, key, value in records if decode_key(key)[0] == 1}
        assert decoded[(1, "veteran", "orders", 0)]["offset"] == 42
    finally:
        assert restarted.stop() == 0
    again = BrokerProcess(data, extra_args=args).start()
    try:
        assert committed(again.bootstrap, "veteran", "orders", 0) == 42
        assert "in Runnel's older format" not in again.read_log()
    finally:
        assert again.stop() == 0


def test_commit_metadata_past_4096_bytes_is_refused_for_that_partition_only(broker):
    """Kafka's offset.metadata.max.bytes: a longer metadata string gets OFFSET_METADATA_TOO_LARGE
    (never stored cut short); the other partitions of the request are committed."""
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("orders", num_partitions=2, replication_factor=1)])["orders"].result(10)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "verbose", "enable.auto.commit": False})
    try:
        result = consumer.commit(offsets=[TopicPartition("orders", 0, 5, metadata="m" * 5000),
                                          TopicPartition("orders", 1, 6, metadata="fine")], asynchronous=False)
    except KafkaException as error:
        result = error.args[0]
    finally:
        consumer.close()
    if isinstance(result, list):
        errors = {tp.partition: tp.error.code() if tp.error else None for tp in result}
        assert errors == {0: KafkaError.OFFSET_METADATA_TOO_LARGE, 1: None}, errors
    else:
        assert result.code() == KafkaError.OFFSET_METADATA_TOO_LARGE, result
    assert committed(broker.bootstrap, "verbose", "orders", 0) < 0
    assert committed(broker.bootstrap, "verbose", "orders", 1) == 6

