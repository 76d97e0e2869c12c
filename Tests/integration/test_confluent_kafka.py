"""confluent-kafka (bundled librdkafka 2.x): admin, produce with each codec, consume, offsets_for_times."""
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions, NewTopic


def admin(broker):
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def produce(broker, topic, messages, **config):
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5, **config})
    reports = []
    for key, value, *rest in messages:
        producer.produce(topic, key=key, value=value, timestamp=rest[0] if rest else 0,
                         on_delivery=lambda err, msg: reports.append((err, msg.partition(), msg.offset())))
    assert producer.flush(30) == 0
    errors = [r for r in reports if r[0] is not None]
    assert not errors, errors
    return reports


def consume_all(broker, topic, partitions, expected):
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "it-reader", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got, deadline = [], time.time() + 30
    while len(got) < expected and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        assert msg.error() is None, msg.error()
        got.append(msg)
    consumer.close()
    return got


def test_admin_create_describe_alter_delete(broker):
    client = admin(broker)
    futures = client.create_topics([NewTopic("orders", num_partitions=4, replication_factor=1,
                                              config={"retention.ms": "3600000", "cleanup.policy": "delete"})])
    futures["orders"].result(10)
    with pytest.raises(KafkaException) as exists:
        client.create_topics([NewTopic("orders", num_partitions=1, replication_factor=1)])["orders"].result(10)
    assert exists.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS
    with pytest.raises(KafkaException) as bad:
        client.create_topics([NewTopic("bad", num_partitions=1, replication_factor=1,
                                       config={"retention.ms": "soon"})])["bad"].result(10)
    assert bad.value.args[0].code() == KafkaError.INVALID_CONFIG

    metadata = client.list_topics(timeout=10)
    assert len(metadata.topics["orders"].partitions) == 4

    resource = ConfigResource("topic", "orders")
    configs = client.describe_configs([resource])[resource].result(10)
    assert configs["retention.ms"].value == "3600000"
    assert configs["segment.bytes"].value == "1073741824" and configs["segment.bytes"].is_default

    change = ConfigResource("topic", "orders", incremental_configs=[
        ConfigEntry("retention.bytes", "1048576", incremental_operation=AlterConfigOpType.SET)])
    client.incremental_alter_configs([change])[change].result(10)
    configs = client.describe_configs([resource])[resource].result(10)
    assert configs["retention.bytes"].value == "1048576" and configs["retention.ms"].value == "3600000"

    client.create_partitions([NewPartitions("orders", 6)])["orders"].result(10)
    assert len(client.list_topics(timeout=10).topics["orders"].partitions) == 6

    client.delete_topics(["orders"])["orders"].result(10)
    assert "orders" not in client.list_topics(timeout=10).topics


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_produce_each_codec_and_consume(broker, codec):
    client = admin(broker)  # kept alive until the future completes
    client.create_topics([NewTopic(f"t-{codec}", num_partitions=3, replication_factor=1)])[f"t-{codec}"].result(10)
    messages = [(f"key-{i % 17}".encode(), f"{codec} message {i} ".encode() * 20) for i in range(600)]
    reports = produce(broker, f"t-{codec}", messages, **{"compression.type": codec})
    got = consume_all(broker, f"t-{codec}", 3, len(messages))
    assert sorted(m.value() for m in got) == sorted(v for _, v in messages)
    # Per key, order is kept: one key always lands in one partition, offsets increasing.
    by_key = {}
    for msg in got:
        by_key.setdefault(msg.key(), []).append((msg.partition(), msg.offset(), msg.value()))
    for key, rows in by_key.items():
        assert len({p for p, _, _ in rows}) == 1
        sent = [v for k, v in messages if k == key]
        assert [v for _, _, v in sorted(rows)] == sent
    assert len(reports) == 600


def test_offsets_for_times_finds_the_first_record_at_or_after(broker):
    client = admin(broker)
    client.create_topics([NewTopic("timed", num_partitions=1, replication_factor=1)])["timed"].result(10)
    base = 1_700_000_000_000
    produce(broker, "timed", [(None, f"m{i}".encode(), base + i * 1000) for i in range(50)])
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "timer", "enable.auto.commit": False})
    for probe, expected in [(base - 1, 0), (base, 0), (base + 10_500, 11), (base + 49_000, 49), (base + 50_000, -1)]:
        found = consumer.offsets_for_times([TopicPartition("timed", 0, probe)], timeout=10)[0]
        assert found.error is None and found.offset == expected, (probe, found)
    low, high = consumer.get_watermark_offsets(TopicPartition("timed", 0), timeout=10)
    assert (low, high) == (0, 50)
    consumer.close()


def test_idempotent_producer(broker):
    produce(broker, "idem", [(None, b"x%d" % i) for i in range(1000)], **{"enable.idempotence": True})
    got = consume_all(broker, "idem", 1, 1000)
    assert [m.value() for m in got] == [b"x%d" % i for i in range(1000)]
