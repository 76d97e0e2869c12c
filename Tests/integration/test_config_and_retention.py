"""Broker settings from a Kafka-style server.properties, and time-based retention at work."""
import os
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import BrokerProcess


def test_server_properties_and_retention(workdir):
    properties = os.path.join(workdir, "server.properties")
    with open(properties, "w") as f:
        f.write("# Kafka names\nnum.partitions=3\nlog.retention.check.interval.ms=200\n"
                "auto.create.topics.enable=true\nprocess.roles=broker,controller\n")
    broker = BrokerProcess(os.path.join(workdir, "data"), extra_args=["--config", properties]).start()
    try:
        client = AdminClient({"bootstrap.servers": broker.bootstrap})
        producer = Producer({"bootstrap.servers": broker.bootstrap})
        producer.produce("defaults", value=b"x")
        producer.flush(10)
        assert len(client.list_topics(timeout=10).topics["defaults"].partitions) == 3  # num.partitions

        client.create_topics([NewTopic("expiring", num_partitions=1, replication_factor=1,
                                       config={"segment.bytes": "1024", "retention.ms": "60000"})])["expiring"].result(10)
        # One record per batch, so that ~1 KiB segments roll every few records.
        single = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0, "batch.num.messages": 1})
        old = int(time.time() * 1000) - 3_600_000
        for i in range(40):  # an hour old: past retention.ms
            single.produce("expiring", value=b"old record %03d " % i * 10, timestamp=old)
            single.flush(10)
        # Too big to share a segment with old records: it rolls a new active segment.
        single.produce("expiring", value=b"fresh" * 170, timestamp=int(time.time() * 1000))
        single.flush(10)
        consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "retention", "enable.auto.commit": False})
        deadline = time.time() + 15
        while time.time() < deadline:
            low, high = consumer.get_watermark_offsets(TopicPartition("expiring", 0), timeout=5)
            if low == high - 1:
                break
            time.sleep(0.2)
        # Every expired segment went; the active one (holding the fresh record) stays.
        assert (low, high) == (40, 41)
        consumer.assign([TopicPartition("expiring", 0, OFFSET_BEGINNING)])
        msg = None
        while msg is None and time.time() < deadline + 10:
            msg = consumer.poll(0.5)
        assert msg.offset() == 40 and msg.value().startswith(b"fresh")
        consumer.close()
    finally:
        assert broker.stop() == 0
