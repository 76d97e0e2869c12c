"""A broker killed with SIGKILL between produce and consume loses no acknowledged message."""
import os
import signal

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import BrokerProcess


def test_acknowledged_messages_survive_sigkill_and_restart(workdir):
    broker = BrokerProcess(os.path.join(workdir, "data")).start()
    client = AdminClient({"bootstrap.servers": broker.bootstrap})
    client.create_topics([NewTopic("durable", num_partitions=4, replication_factor=1)])["durable"].result(10)
    acked = {}
    for round_ in range(3):
        producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 2,
                             "compression.type": ["none", "lz4", "zstd"][round_]})
        for i in range(2000):
            key = f"key-{i % 50}".encode()
            value = f"round {round_} message {i}".encode()
            producer.produce("durable", key=key, value=value, on_delivery=lambda err, msg: (
                err is None and acked.setdefault((msg.partition(), msg.offset()), (msg.key(), msg.value()))))
        assert producer.flush(30) == 0
        del producer
        # No warning, no flush: the process dies with whatever the kernel has.
        assert broker.kill() == -signal.SIGKILL
        assert "stopped cleanly" not in broker.read_log().splitlines()[-1]
        broker = BrokerProcess(broker.data_dir, port=broker.port).start()
    assert len(acked) == 6000
    assert "recovered after an unclean shutdown" in broker.read_log()

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "verify", "enable.auto.commit": False})
    consumer.assign([TopicPartition("durable", p, 0) for p in range(4)])
    seen = {}
    while len(seen) < len(acked):
        msg = consumer.poll(5)
        assert msg is not None, f"only {len(seen)} of {len(acked)} acknowledged messages came back"
        assert msg.error() is None, msg.error()
        seen[(msg.partition(), msg.offset())] = (msg.key(), msg.value())
    consumer.close()
    assert seen == acked
    # In order per partition: offsets are dense and, per key, the rounds and indexes increase.
    for partition in range(4):
        offsets = sorted(o for p, o in seen if p == partition)
        assert offsets == list(range(len(offsets)))
    assert broker.stop() == 0
