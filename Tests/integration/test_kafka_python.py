"""kafka-python 3 (pure Python, idempotent producer by default): produce and consume."""
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic


def test_produce_and_consume(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([NewTopic("kp", 2, 1)])
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, compression_type="gzip", linger_ms=5)
    futures = [producer.send("kp", key=b"k%d" % (i % 5), value=b"value-%d" % i, headers=[("h", b"%d" % i)]) for i in range(300)]
    producer.flush()
    metadata = [f.get(timeout=10) for f in futures]
    assert {m.partition for m in metadata} <= {0, 1}
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, consumer_timeout_ms=3000)
    consumer.assign([TopicPartition("kp", 0), TopicPartition("kp", 1)])
    consumer.seek_to_beginning()
    records = list(consumer)
    assert sorted(r.value for r in records) == sorted(b"value-%d" % i for i in range(300))
    assert all(r.headers == [("h", r.value.split(b"-")[1])] for r in records)
    for partition in (0, 1):
        offsets = [r.offset for r in records if r.partition == partition]
        assert offsets == list(range(len(offsets)))
    consumer.close()
    producer.close()
    admin.delete_topics(["kp"])
    assert "kp" not in admin.list_topics()
    admin.close()
