"""Topic configs the broker enforces on produce: compression.type (recompression, so real
clients decode batches our encoder wrote), message.timestamp.type, max.message.bytes,
min.insync.replicas with acks=all, and acks=0."""
import time

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer
from kafka import TopicPartition as KPTopicPartition

from kafka_wire import Connection, parse_produce_response_v3, produce_request_v3, record_batch


def create(broker, name, **config):
    client = AdminClient({"bootstrap.servers": broker.bootstrap})
    client.create_topics([NewTopic(name, num_partitions=1, replication_factor=1, config=config)])[name].result(10)


def produce(broker, topic, values, **config):
    producer = Producer({"bootstrap.servers": broker.bootstrap, **config})
    reports = []
    for value in values:
        producer.produce(topic, value=value, timestamp=1_600_000_000_000,
                         on_delivery=lambda err, msg: reports.append((err, msg)))
    producer.flush(30)
    return reports


def read(broker, topic, count):
    # No commits: offsets need the group coordinator (its own issue), which this suite does not test.
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "policy-reader", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    messages, deadline = [], time.time() + 20
    while len(messages) < count and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None:
            assert msg.error() is None, msg.error()
            messages.append(msg)
    consumer.close()
    return messages


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_named_compression_type_recompresses_and_clients_decode_it(broker, codec):
    create(broker, f"re-{codec}", **{"compression.type": codec})
    values = [b"recompressed by the broker %d " % i * 8 for i in range(300)]
    assert all(err is None for err, _ in produce(broker, f"re-{codec}", values, **{"compression.type": "none"}))
    assert [m.value() for m in read(broker, f"re-{codec}", 300)] == values
    # kafka-python decodes the same batches with its own codec implementations.
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, consumer_timeout_ms=3000)
    consumer.assign([KPTopicPartition(f"re-{codec}", 0)])
    consumer.seek_to_beginning()
    assert [r.value for r in consumer] == values
    consumer.close()


def test_log_append_time_replaces_producer_timestamps(broker):
    create(broker, "appended", **{"message.timestamp.type": "LogAppendTime"})
    before = int(time.time() * 1000)
    produce(broker, "appended", [b"a", b"b"])
    for msg in read(broker, "appended", 2):
        kind, timestamp = msg.timestamp()
        assert kind == 2  # TIMESTAMP_LOG_APPEND_TIME
        assert before - 1000 <= timestamp <= int(time.time() * 1000) + 1000


def test_batches_over_max_message_bytes_are_refused(broker):
    create(broker, "small", **{"max.message.bytes": "2048"})
    reports = produce(broker, "small", [b"x" * 10_000], **{"message.max.bytes": 100_000, "retries": 0})
    assert reports[0][0] is not None and reports[0][0].code() == KafkaError.MSG_SIZE_TOO_LARGE
    assert all(err is None for err, _ in produce(broker, "small", [b"fits"]))


def test_acks_all_needs_min_insync_replicas(broker):
    create(broker, "strict", **{"min.insync.replicas": "2"})
    # On the wire: acks=all is refused with NOT_ENOUGH_REPLICAS (19), before anything is written.
    conn = Connection(broker)
    conn.send(produce_request_v3("strict", 0, record_batch([b"x"]), acks=-1))
    assert parse_produce_response_v3(conn.receive()) == [(0, KafkaError.NOT_ENOUGH_REPLICAS, -1)]
    conn.close()
    # librdkafka retries that (retriable) error until its timeout; without retries it reports
    # the broker's answer itself, not a timeout.
    reports = produce(broker, "strict", [b"x"], acks="all", retries=0)
    assert [err.code() for err, _ in reports] == [KafkaError.NOT_ENOUGH_REPLICAS]
    # acks=1 does not need the ISR, and the refused records were never appended: "y" is offset 0.
    reports = produce(broker, "strict", [b"y"], acks=1)
    assert [(err, msg.offset()) for err, msg in reports] == [(None, 0)]
    assert [m.value() for m in read(broker, "strict", 1)] == [b"y"]


def test_acks_zero_and_fsync_before_ack(broker):
    create(broker, "fire-and-forget")
    create(broker, "durable", **{"flush.messages": "1"})
    produce(broker, "fire-and-forget", [b"%d" % i for i in range(500)], acks=0)
    assert len(read(broker, "fire-and-forget", 500)) == 500
    reports = produce(broker, "durable", [b"%d" % i for i in range(500)], acks="all")
    assert all(err is None for err, _ in reports)
    assert [m.value() for m in read(broker, "durable", 500)] == [b"%d" % i for i in range(500)]


def test_fsync_waits_do_not_reorder_answers_on_a_connection(broker):
    """A produce waiting for its fsync frees the connection for the next request, but the answers
    still leave in request order: kafka-python checks every correlation id against the order it
    sent them in and fails the connection on a mismatch."""
    from kafka import KafkaProducer
    create(broker, "synced", **{"flush.messages": "1"})
    create(broker, "unsynced")
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=0, acks=1, max_in_flight_requests_per_connection=5)
    futures = []
    for i in range(400):
        futures.append(producer.send("synced" if i % 2 == 0 else "unsynced", value=b"%d" % i))
        if i % 50 == 0:
            producer.flush()
    producer.flush()
    offsets = [f.get(timeout=30).offset for f in futures]
    producer.close()
    assert offsets[0::2] == list(range(200)) and offsets[1::2] == list(range(200))
    assert [m.value() for m in read(broker, "synced", 200)] == [b"%d" % i for i in range(0, 400, 2)]
