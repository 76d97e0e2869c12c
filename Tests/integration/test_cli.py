"""The `runnel` CLI end to end against a real broker, with real Kafka clients as witnesses:
what the CLI writes, confluent-kafka and kafka-python read, and the other way round."""
import datetime
import json
import subprocess
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from kafka import KafkaProducer

from conftest import RUNNEL


def runnel(broker, *args, stdin=None, check=True, timeout=60):
    result = subprocess.run([RUNNEL, *args, "--bootstrap-server", broker.bootstrap], input=stdin,
                            capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, f"runnel {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
    return result


def consume_json(broker, topic, *args):
    out = runnel(broker, "consume", "--topic", topic, "--format", "json", "--timeout-ms", "1500", *args).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_topic_commands(broker):
    runnel(broker, "topic", "create", "--topic", "cli-orders", "--partitions", "3", "--config", "retention.ms=3600000")
    again = runnel(broker, "topic", "create", "--topic", "cli-orders", "--partitions", "3", check=False)
    assert again.returncode != 0 and "TOPIC_ALREADY_EXISTS" in again.stderr
    runnel(broker, "topic", "create", "--topic", "cli-orders", "--if-not-exists")
    runnel(broker, "topic", "create", "--topic", "cli-other")
    assert runnel(broker, "topic", "list").stdout.split() == ["cli-orders", "cli-other"]

    described = runnel(broker, "topic", "describe", "--topic", "cli-orders").stdout
    assert "PartitionCount: 3" in described and "retention.ms=3600000" in described
    assert described.count("\tPartition: ") == 3

    runnel(broker, "topic", "alter", "--topic", "cli-orders", "--partitions", "5", "--config", "retention.ms=60000")
    described = runnel(broker, "topic", "describe", "--topic", "cli-orders").stdout
    assert "PartitionCount: 5" in described and "retention.ms=60000" in described
    runnel(broker, "topic", "alter", "--topic", "cli-orders", "--delete-config", "retention.ms")
    assert "retention.ms" not in runnel(broker, "topic", "describe", "--topic", "cli-orders").stdout

    runnel(broker, "topic", "delete", "--topic", "cli-other")
    assert runnel(broker, "topic", "list").stdout.split() == ["cli-orders"]
    missing = runnel(broker, "topic", "describe", "--topic", "cli-other", check=False)
    assert missing.returncode != 0 and "unknown topic cli-other" in missing.stderr


def test_produce_keys_land_where_java_and_librdkafka_put_them(broker):
    """The CLI's partitioner (our client's murmur2) agrees with librdkafka's murmur2_random and
    with kafka-python's default, which is the Java client's."""
    runnel(broker, "topic", "create", "--topic", "keys", "--partitions", "7")
    keys = [f"user-{i}" for i in range(60)] + ["", "ä-ünïcode", "x" * 300]
    keys = [k for k in keys if k]  # an empty key is a key, but a line "=value" would be ambiguous below
    lines = "".join(f"{k}={k}-cli\n" for k in keys)
    runnel(broker, "produce", "--topic", "keys", "--key-separator", "=", "--acks", "all", "--compression", "lz4",
           "--header", "source=cli", stdin=lines)

    librdkafka = {}
    producer = Producer({"bootstrap.servers": broker.bootstrap, "partitioner": "murmur2_random"})
    for k in keys:
        producer.produce("keys", key=k.encode(), value=f"{k}-rdkafka".encode(),
                         on_delivery=lambda err, msg: librdkafka.__setitem__(msg.key().decode(), msg.partition()))
    assert producer.flush(30) == 0

    java = {}
    kp = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for k in keys:
        java[k] = kp.send("keys", key=k.encode(), value=f"{k}-java".encode()).get(timeout=30).partition
    kp.close()

    records = consume_json(broker, "keys", "--from-beginning")
    cli = {r["key"]: r["partition"] for r in records if r["value"].endswith("-cli")}
    assert len(cli) == len(keys)
    assert all(r["headers"] == {"source": "cli"} for r in records if r["value"].endswith("-cli"))
    assert cli == librdkafka == java
    assert len(set(cli.values())) > 1


def test_consume_from_timestamp_returns_exactly_the_records_at_or_after_it(broker):
    runnel(broker, "topic", "create", "--topic", "times", "--partitions", "3")
    base = 1_700_000_000_000
    # Timestamps not in offset order within a partition (producers choose CreateTime).
    stamps = [base + ((i * 7919) % 100) * 1000 for i in range(120)]
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=0)
    for i, ts in enumerate(stamps):
        producer.send("times", key=str(i).encode(), value=str(i).encode(), timestamp_ms=ts, partition=i % 3)
    producer.flush()
    producer.close()

    everything = consume_json(broker, "times", "--from-beginning")
    assert len(everything) == 120
    for cutoff in [base + 50_000, base + 50_500, base, base + 99_000, base + 200_000]:
        expected = {(r["partition"], r["offset"]) for r in everything if r["timestamp"] >= cutoff}
        got = consume_json(broker, "times", "--from-timestamp", str(cutoff))
        assert {(r["partition"], r["offset"]) for r in got} == expected, cutoff
        assert all(r["timestamp"] >= cutoff for r in got)
    iso = datetime.datetime.fromtimestamp((base + 42_000) / 1000, tz=datetime.timezone.utc).isoformat().replace("+00:00", "Z")
    got = consume_json(broker, "times", "--from-timestamp", iso)
    assert {(r["partition"], r["offset"]) for r in got} == {(r["partition"], r["offset"]) for r in everything if r["timestamp"] >= base + 42_000}


def test_consume_from_offset_and_partition_and_text_output(broker):
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(10):
        producer.produce("plain", value=f"line-{i}".encode(), key=b"k", partition=0, headers=[("h", b"v")])
    assert producer.flush(30) == 0
    out = runnel(broker, "consume", "--topic", "plain", "--partition", "0", "--offset", "7", "--timeout-ms", "1000",
                 "--print-offset", "--print-key", "--print-headers").stdout
    assert out.splitlines() == [f"Offset:{i}\th:v\tk\tline-{i}" for i in (7, 8, 9)]
    out = runnel(broker, "consume", "--topic", "plain", "--from-beginning", "--max-messages", "4").stdout
    assert out.splitlines() == [f"line-{i}" for i in range(4)]


def test_group_commands_describe_lag_and_reset_offsets(broker):
    runnel(broker, "topic", "create", "--topic", "work", "--partitions", "2")
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(20):
        producer.produce("work", value=b"x", partition=i % 2)
    assert producer.flush(30) == 0

    # A confluent-kafka member of group "crew" reads 6 records of partition 0 and commits.
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "crew", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition("work", 0, 0)])
    read = 0
    deadline = time.time() + 30
    while read < 6 and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            read += 1
    consumer.commit(offsets=[TopicPartition("work", 0, 6), TopicPartition("work", 1, 2)], asynchronous=False)
    consumer.close()

    assert "crew" in runnel(broker, "group", "list").stdout.split()
    rows = [line.split() for line in runnel(broker, "group", "describe", "--group", "crew").stdout.splitlines()]
    assert rows[0][:6] == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"]
    assert [r[:6] for r in rows[1:]] == [["crew", "work", "0", "6", "10", "4"], ["crew", "work", "1", "2", "10", "8"]]

    def committed():
        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "crew"})
        offsets = {tp.partition: tp.offset for tp in c.committed([TopicPartition("work", 0), TopicPartition("work", 1)], timeout=10)}
        c.close()
        return offsets

    dry = runnel(broker, "group", "reset-offsets", "--group", "crew", "--topic", "work", "--to-earliest")
    assert "Dry run" in dry.stderr and committed() == {0: 6, 1: 2}
    runnel(broker, "group", "reset-offsets", "--group", "crew", "--topic", "work", "--shift-by", "-3", "--execute")
    assert committed() == {0: 3, 1: 0}  # 2 - 3 is clamped to the log start
    runnel(broker, "group", "reset-offsets", "--group", "crew", "--all-topics", "--to-latest", "--execute")
    assert committed() == {0: 10, 1: 10}
    runnel(broker, "group", "reset-offsets", "--group", "crew", "--topic", "work", "--to-offset", "4", "--execute")
    assert committed() == {0: 4, 1: 4}

    # The CLI consumer in the group resumes from the committed offsets.
    out = runnel(broker, "consume", "--topic", "work", "--group", "crew", "--timeout-ms", "6000",
                 "--print-partition", "--print-offset").stdout
    assert sorted(out.splitlines()) == sorted(f"Partition:{p}\tOffset:{o}\tx" for p in (0, 1) for o in range(4, 10))
    assert committed() == {0: 10, 1: 10}
    runnel(broker, "group", "delete", "--group", "crew")
    assert "crew" not in runnel(broker, "group", "list").stdout.split()
