"""Log compaction (cleanup.policy=compact) on a real broker, driven by confluent-kafka.

Topics roll small segments quickly (segment.bytes 16 KiB, segment.ms 200) and are cleaned as
soon as anything is dirty (min.cleanable.dirty.ratio 0.01, log.cleaner.backoff.ms 100), so the
cleaner runs many rounds while the test watches. Every check is made against what the
producer's delivery reports acknowledged.
"""
import os
import re
import shutil
import subprocess
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from conftest import BrokerProcess

CLEANER_ARGS = ["--override", "log.cleaner.backoff.ms=100"]
COMPACTED = {"cleanup.policy": "compact", "segment.bytes": "16384", "segment.ms": "200", "min.cleanable.dirty.ratio": "0.01"}


def start_broker(workdir, extra=(), env=None):
    return BrokerProcess(os.path.join(workdir, "data"), extra_args=[*CLEANER_ARGS, *extra], env=env).start()


def create(bootstrap, topic, **config):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1, config={**COMPACTED, **config})])[topic].result(10)


def produce(bootstrap, topic, records, acked, errors=None):
    """Produces (key, value) pairs; `acked` gets key -> (value, offset) of every acknowledged
    record in offset order, `errors` the error codes of the refused ones."""
    # Batches stay well below the topics' 16 KiB segments (a larger one is refused, error 18).
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "enable.idempotence": True,
                         "message.timeout.ms": 20000, "batch.size": 8000})

    def report(error, message):
        if error is None:
            acked.append((message.key(), message.value(), message.offset()))
        elif errors is not None:
            errors.append(error.code())

    for key, value in records:
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    producer.flush(30)


def read_all(bootstrap, topic, start=OFFSET_BEGINNING, timeout=30):
    """Every record of partition 0 from `start` to the high watermark: (offset, key, value)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader", "enable.auto.commit": False,
                         "enable.partition.eof": True})
    try:
        _, high = watermarks(consumer, topic)
        consumer.assign([TopicPartition(topic, 0, start)])
        records = []
        deadline = time.time() + timeout
        while time.time() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    if not records or records[-1][0] + 1 >= high or message.offset() >= high:
                        return records
                    continue
                raise KafkaException(message.error())
            records.append((message.offset(), message.key(), message.value()))
        raise AssertionError(f"did not reach the high watermark {high} of {topic} within {timeout} s")
    finally:
        consumer.close()


def watermarks(consumer, topic):
    for _ in range(50):
        try:
            return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=5)
        except KafkaException:
            time.sleep(0.2)
    raise AssertionError("no watermarks")


def last_acked(acked):
    last = {}
    for key, value, offset in acked:
        last[key] = (value, offset)
    return last


def wait_until_compacted(bootstrap, topic, most, timeout=60):
    """Reads the topic until at most `most` records are left; returns them."""
    deadline = time.time() + timeout
    while True:
        records = read_all(bootstrap, topic)
        if len(records) <= most or time.time() > deadline:
            return records
        time.sleep(0.5)


def check_against_acked(records, acked):
    """Offsets strictly increase; each record is one the producer had acknowledged at that
    offset; every acknowledged key's last value is there."""
    offsets = [offset for offset, _, _ in records]
    assert offsets == sorted(set(offsets)), "an offset served twice or out of order"
    by_offset = {offset: (key, value) for key, value, offset in acked}
    for offset, key, value in records:
        assert by_offset.get(offset) == (key, value), f"offset {offset} holds {key}={value}, acknowledged as {by_offset.get(offset)}"
    seen = {key: (value, offset) for offset, key, value in records}
    for key, (value, offset) in last_acked(acked).items():
        assert seen.get(key) == (value, offset), f"key {key}: last acknowledged {value} at {offset}, read {seen.get(key)}"


def test_a_compacted_topic_keeps_the_last_value_of_every_key_at_its_offset(workdir):
    broker = start_broker(workdir)
    try:
        create(broker.bootstrap, "latest")
        acked = []
        records = [(b"key-%04d" % key, b"version %02d of key %04d" % (version, key) + b"." * 40)
                   for version in range(20) for key in range(1000)]
        produce(broker.bootstrap, "latest", records, acked)
        assert len(acked) == 20_000
        # segment.ms rolls the active segment on the next append, so the last versions become cleanable.
        time.sleep(0.3)
        produce(broker.bootstrap, "latest", [(b"filler", b"f")], acked)
        compacted = wait_until_compacted(broker.bootstrap, "latest", most=1001)
        assert len(compacted) == 1001, f"{len(compacted)} records left of 20001"
        check_against_acked(compacted, acked)
        # A fetch at an offset the cleaner removed gets the next record kept.
        first_kept = compacted[0][0]
        assert first_kept > 0
        assert read_all(broker.bootstrap, "latest", start=5)[0][0] == first_kept
        # Lookup by time still finds a kept record.
        consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "times"})
        found = consumer.offsets_for_times([TopicPartition("latest", 0, 0)], timeout=10)[0]
        assert found.offset == first_kept
        consumer.close()
        log = broker.read_log()
        assert re.search(r"log cleaner: latest-0: cleaned offsets up to \d+", log), log[-3000:]
    finally:
        assert broker.stop() == 0


def test_a_tombstone_is_served_for_delete_retention_ms_then_removed(workdir):
    broker = start_broker(workdir)
    try:
        create(broker.bootstrap, "deletes", **{"delete.retention.ms": "3000"})
        acked = []
        produce(broker.bootstrap, "deletes", [(b"k%03d" % key, b"v" * 50) for key in range(300)], acked)
        produce(broker.bootstrap, "deletes", [(b"k007", None)], acked)
        produce(broker.bootstrap, "deletes", [(b"k%03d" % key, b"w" * 50) for key in range(300) if key != 7], acked)
        time.sleep(0.3)
        produce(broker.bootstrap, "deletes", [(b"filler", b"f")], acked)
        compacted = wait_until_compacted(broker.bootstrap, "deletes", most=301)
        # Right after the clean a consumer from the start still sees the delete.
        assert [(key, value) for _, key, value in compacted if key == b"k007"] == [(b"k007", None)]
        deadline = time.time() + 30
        while time.time() < deadline:
            # New dirty data makes the cleaner take the partition again once the horizon passed.
            time.sleep(0.5)
            produce(broker.bootstrap, "deletes", [(b"filler", b"g")], acked)
            if all(key != b"k007" for _, key, _ in read_all(broker.bootstrap, "deletes")):
                break
        left = read_all(broker.bootstrap, "deletes")
        assert all(key != b"k007" for _, key, _ in left)
        assert {key for _, key, _ in left} == {b"k%03d" % key for key in range(300) if key != 7} | {b"filler"}
    finally:
        assert broker.stop() == 0


def test_keyless_records_configs_and_switching_policies(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    create(broker.bootstrap, "keys-only")
    errors = []
    acked = []
    produce(broker.bootstrap, "keys-only", [(None, b"no key")], acked, errors)
    assert acked == [] and errors == [KafkaError.INVALID_RECORD]
    # In one batch, Kafka names each keyless record (KIP-467): librdkafka fails exactly those
    # with INVALID_RECORD and the batch's other records with _INVALID_DIFFERENT_RECORD.
    mixed_errors = []
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 100})
    for index in range(10):
        producer.produce("keys-only", key=None if index % 5 == 0 else b"k%d" % index, value=b"v",
                         on_delivery=lambda error, message: mixed_errors.append(error.code() if error else None))
    producer.flush(10)
    assert sorted(mixed_errors, key=str) == sorted([KafkaError.INVALID_RECORD] * 2 + [KafkaError._INVALID_DIFFERENT_RECORD] * 8, key=str)
    # A topic switched from delete to compact refuses keyless records from then on.
    admin.create_topics([NewTopic("switching", num_partitions=1, replication_factor=1)])["switching"].result(10)
    produce(broker.bootstrap, "switching", [(None, b"before")], acked, errors)
    assert len(acked) == 1
    resource = ConfigResource(ConfigResource.Type.TOPIC, "switching", incremental_configs=[
        ConfigEntry("cleanup.policy", "compact,delete", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(10)
    produce(broker.bootstrap, "switching", [(None, b"after")], acked, errors)
    assert len(acked) == 1 and errors == [KafkaError.INVALID_RECORD] * 2
    described = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, "switching")])
    configs = list(described.values())[0].result(10)
    assert configs["cleanup.policy"].value == "compact,delete"
    assert configs["min.cleanable.dirty.ratio"].value == "0.5"
    assert configs["delete.retention.ms"].value == "86400000"
    # APPEND and SUBTRACT work on the effective list, its default included (as librdkafka's
    # 0011 test uses them): SUBTRACT compact leaves delete, APPEND compact gives delete,compact.
    def incremental(operation, name, value):
        resource = ConfigResource(ConfigResource.Type.TOPIC, "switching", incremental_configs=[
            ConfigEntry(name, value, incremental_operation=operation)])
        return admin.incremental_alter_configs([resource])[resource]

    def policy():
        return list(admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, "switching")]).values())[0].result(10)[
            "cleanup.policy"].value

    incremental(AlterConfigOpType.SUBTRACT, "cleanup.policy", "compact").result(10)
    assert policy() == "delete"
    incremental(AlterConfigOpType.DELETE, "cleanup.policy", None).result(10)
    incremental(AlterConfigOpType.APPEND, "cleanup.policy", "compact").result(10)
    assert policy() == "delete,compact"
    with pytest.raises(KafkaException) as refused:
        incremental(AlterConfigOpType.APPEND, "retention.ms", "5").result(10)
    assert refused.value.args[0].code() == KafkaError.INVALID_CONFIG
    # Kafka's checks: a policy it does not know, a ratio above 1, a minimum lag above the maximum.
    for bad in ({"cleanup.policy": "shred"}, {"min.cleanable.dirty.ratio": "1.5"},
                {"min.compaction.lag.ms": "5000", "max.compaction.lag.ms": "1000"}):
        future = admin.create_topics([NewTopic("bad", num_partitions=1, replication_factor=1, config=bad)])["bad"]
        with pytest.raises(KafkaException) as refused:
            future.result(10)
        assert refused.value.args[0].code() == KafkaError.INVALID_CONFIG, bad


@pytest.mark.parametrize("failpoint", ["cleaner-before-swap", "cleaner-after-swap", "cleaner-after-delete"])
def test_a_broker_killed_at_each_step_of_a_clean_loses_nothing(workdir, failpoint):
    broker = start_broker(workdir, env={"RUNNEL_FAILPOINT": failpoint})
    acked = []
    try:
        create(broker.bootstrap, "crashing")
        version = 0
        deadline = time.time() + 60
        # Load until the cleaner reaches the failpoint and the broker kills itself.
        while broker.process.poll() is None and time.time() < deadline:
            produce(broker.bootstrap, "crashing",
                    [(b"key-%03d" % key, b"v%04d-%03d" % (version, key) + b"." * 60) for key in range(200)], acked)
            version += 1
            time.sleep(0.25)
        assert broker.process.wait(timeout=30) == -9, "the broker never reached " + failpoint
    finally:
        if broker.process.poll() is None:
            broker.kill()
    assert acked, "nothing was acknowledged before the crash"
    # First with the cleaner off, so that what is on disk is what loading left (a running
    # cleaner writes .cleaned files of its own).
    recovered = start_broker(workdir, extra=["--override", "log.cleaner.enable=false"])
    try:
        log = recovered.read_log()
        assert "DAMAGED" not in log and "moved to .corrupt" not in log, log[-3000:]
        if failpoint != "cleaner-before-swap":
            assert "completed an interrupted log cleaner swap" in log, log[-3000:]
        partition = os.path.join(workdir, "data", "crashing-0")
        assert not [name for name in os.listdir(partition) if name.endswith((".cleaned", ".swap"))]
        check_against_acked(read_all(recovered.bootstrap, "crashing"), acked)
    finally:
        assert recovered.stop() == 0
    restarted = start_broker(workdir)
    try:
        # The cleaner finishes the job after the restart.
        time.sleep(0.3)
        produce(restarted.bootstrap, "crashing", [(b"filler", b"f")], acked)
        compacted = wait_until_compacted(restarted.bootstrap, "crashing", most=201)
        assert len(compacted) <= 201
        check_against_acked(compacted, acked)
    finally:
        assert restarted.stop() == 0


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM:")).split()[1])


def test_cleaning_many_keys_stays_within_the_dedupe_buffer(workdir):
    """300,000 distinct keys with a 4 MiB dedupe buffer (about 157,000 keys a round): the
    cleaner takes several rounds, its memory stays near the buffer, and every key keeps its
    last value."""
    broker = start_broker(workdir, extra=["--override", "log.cleaner.dedupe.buffer.size=4194304"])
    try:
        # Never eligible while loading (the ratio cannot pass 1).
        create(broker.bootstrap, "many", **{"min.cleanable.dirty.ratio": "1", "segment.bytes": "1048576"})
        acked = []
        keys = 300_000
        produce(broker.bootstrap, "many", [(b"key-%06d" % key, b"first" + b"." * 40) for key in range(keys)], acked)
        produce(broker.bootstrap, "many", [(b"key-%06d" % key, b"second" + b"." * 40) for key in range(0, keys, 2)], acked)
        time.sleep(0.3)
        produce(broker.bootstrap, "many", [(b"filler", b"f")], acked)
        assert len(acked) == keys + keys // 2 + 1
        before = vm_hwm_kib(broker.process.pid)
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        resource = ConfigResource(ConfigResource.Type.TOPIC, "many", incremental_configs=[
            ConfigEntry("min.cleanable.dirty.ratio", "0.01", incremental_operation=AlterConfigOpType.SET)])
        admin.incremental_alter_configs([resource])[resource].result(10)
        compacted = wait_until_compacted(broker.bootstrap, "many", most=keys + 1, timeout=120)
        assert len(compacted) == keys + 1
        check_against_acked(compacted, acked)
        rounds = len(re.findall(r"log cleaner: many-0: cleaned", broker.read_log()))
        assert rounds >= 2, broker.read_log()[-3000:]
        growth_mib = (vm_hwm_kib(broker.process.pid) - before) / 1024
        print(f"\n{rounds} cleaner rounds; peak resident memory grew {growth_mib:.1f} MiB while cleaning")
        assert growth_mib < 32
    finally:
        assert broker.stop() == 0


def records_in_files(partition_dir):
    """(offset, key, value) of every record in a partition directory's segments, read from the
    files (uncompressed batches, as the tests' producers write them)."""
    def varint(data, position):
        shift = result = 0
        while True:
            byte = data[position]
            position += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return (result >> 1) ^ -(result & 1), position

    records = []
    for name in sorted(n for n in os.listdir(partition_dir) if n.endswith(".log")):
        with open(os.path.join(partition_dir, name), "rb") as f:
            data = f.read()
        position = 0
        while position + 61 <= len(data):
            base, length = int.from_bytes(data[position:position + 8], "big", signed=True), int.from_bytes(data[position + 8:position + 12], "big")
            attributes = int.from_bytes(data[position + 21:position + 23], "big")
            count = int.from_bytes(data[position + 57:position + 61], "big")
            assert attributes & 0x07 == 0, "compressed batch"
            cursor = position + 61
            for _ in range(count):
                _, cursor = varint(data, cursor)  # record length
                cursor += 1  # attributes
                _, cursor = varint(data, cursor)  # timestamp delta
                delta, cursor = varint(data, cursor)
                key_length, cursor = varint(data, cursor)
                key = data[cursor:cursor + key_length] if key_length >= 0 else None
                cursor += max(key_length, 0)
                value_length, cursor = varint(data, cursor)
                value = data[cursor:cursor + value_length] if value_length >= 0 else None
                cursor += max(value_length, 0)
                headers, cursor = varint(data, cursor)
                assert headers == 0
                records.append((base + delta, key, value))
            position += 12 + length
    return records


def test_replicas_of_a_compacted_topic_agree_through_a_leader_kill_and_a_lagging_follower(workdir, etcd):
    """RF 3, acks=all, idempotent: a follower is down while the leader cleans and catches up
    through the cleaned section, then the leader is SIGKILLed and comes back; every replica ends with the same last value for every
    key (their files differ: each cleans on its own), and every acknowledged key's last value
    is served."""
    from cluster import Cluster
    from test_replication import in_sync, leader_of

    cluster = Cluster(workdir, etcd, count=3, extra_args=[
        *CLEANER_ARGS, "--override", "replica.lag.time.max.ms=2000", "--override", "replica.fetch.backoff.ms=200"]).start()
    try:
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        admin.create_topics([NewTopic("table", 1, 3, config={**COMPACTED, "min.insync.replicas": "2"})])["table"].result(20)
        in_sync(cluster, "table", 1)
        leader = leader_of(cluster, 0, "table")
        lagging = next(broker_id for broker_id in cluster.brokers if broker_id != leader)
        cluster.brokers[lagging].kill()
        acked, errors = [], []

        def load(rounds, start):
            for version in range(start, start + rounds):
                produce(cluster.bootstrap, "table", [(b"key-%03d" % key, b"v%03d-%03d" % (version, key) + b"." * 60) for key in range(200)],
                        acked, errors)

        load(8, 0)
        deadline = time.time() + 30
        while time.time() < deadline and "log cleaner: table-0: cleaned" not in cluster.brokers[leader].read_log():
            load(1, 100)
        assert "log cleaner: table-0: cleaned" in cluster.brokers[leader].read_log()
        # The follower catches up through the leader's cleaned section (offsets that skip).
        cluster.brokers[lagging].start()
        in_sync(cluster, "table", 1, timeout=60)
        cluster.brokers[leader].kill()
        load(6, 200)
        cluster.brokers[leader].start()
        in_sync(cluster, "table", 1, timeout=60)
        time.sleep(0.3)
        produce(cluster.bootstrap, "table", [(b"filler", b"f")], acked, errors)
        assert errors == [], errors
        check_against_acked(read_all(cluster.bootstrap, "table", timeout=60), acked)
        # Every replica has the whole log; each one's last value per key is the same.
        deadline = time.time() + 30
        while True:
            views = {}
            for broker_id, broker in cluster.brokers.items():
                last = {}
                for offset, key, value in records_in_files(os.path.join(broker.data_dir, "table-0")):
                    last[key] = (offset, value)
                views[broker_id] = last
            if all(view == views[leader] for view in views.values()) or time.time() > deadline:
                break
            time.sleep(0.5)
        assert all(view == views[leader] for view in views.values())
        assert {key: value for key, (_, value) in views[leader].items()} == {key: value for key, (value, _) in last_acked(acked).items()}
    finally:
        cluster.stop()


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (tools/setup installs it)")
def test_a_cleaned_log_is_served_with_sendfile_to_kcat(workdir):
    trace = os.path.join(workdir, "strace.out")
    broker = BrokerProcess(os.path.join(workdir, "data"), extra_args=CLEANER_ARGS,
                           wrapper=["strace", "-f", "-qq", "-e", "trace=sendfile", "-o", trace]).start()
    try:
        create(broker.bootstrap, "served")
        acked = []
        produce(broker.bootstrap, "served", [(b"key-%03d" % key, b"version %02d " % version + b"z" * 200)
                                            for version in range(10) for key in range(300)], acked)
        time.sleep(0.3)
        produce(broker.bootstrap, "served", [(b"filler", b"f")], acked)
        compacted = wait_until_compacted(broker.bootstrap, "served", most=301)
        assert len(compacted) == 301
        mark = os.path.getsize(trace)
        out = subprocess.run(["kcat", "-b", broker.bootstrap, "-t", "served", "-C", "-e", "-o", "beginning", "-f", "%k=%s\n"],
                             capture_output=True, check=True, timeout=60).stdout
        assert sorted(out.splitlines()) == sorted(b"%s=%s" % (key, value) for _, key, value in compacted)
    finally:
        assert broker.stop() == 0
    with open(trace) as f:
        f.seek(mark)
        calls = [line for line in f.read().splitlines() if "sendfile(" in line]
    sent = sum(int(m.group(1)) for line in calls if (m := re.search(r"=\s+(\d+)\s*$", line)))
    # kcat's read of the cleaned log went out through sendfile: every kept record's bytes.
    assert sent >= sum(len(value) for _, _, value in compacted), (sent, calls[:5])
