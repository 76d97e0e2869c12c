"""Too many partitions (issue 11, item 5): a CreateTopics or CreatePartitions that the broker's
file descriptor limit (RLIMIT_NOFILE) cannot carry, or that asks for more than Kafka's 10,000
partitions per request, is refused with POLICY_VIOLATION before anything is created; a creation
that fails midway is rolled back; the broker raises its soft limit to the hard one at start-up.

The broker runs under `prlimit` (which execs it: same pid), so the limits are the test's."""
import os
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

from conftest import BrokerProcess

# With 1024 descriptors the broker keeps 256 for connections and hosts (1024 - 256) / 3 = 256
# partitions, one of which is __consumer_offsets (offsets.topic.num.partitions=1 below).
LIMIT = 1024
ROOM = (LIMIT - 256) // 3 - 1


class LimitedBroker(BrokerProcess):
    """A broker under `prlimit --nofile=SOFT:HARD`; prlimit execs the broker in place."""

    def __init__(self, data_dir, soft, hard, extra_args=()):
        super().__init__(data_dir, extra_args=["--override", "offsets.topic.num.partitions=1", *extra_args],
                         wrapper=["prlimit", f"--nofile={soft}:{hard}", "--"])

    def broker_pid(self):
        return self.process.pid

    def open_file_limits(self):
        with open(f"/proc/{self.process.pid}/limits") as f:
            line = next(line for line in f if line.startswith("Max open files"))
        return tuple(int(field) for field in line.split()[3:5])


def admin(broker):
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def create_error(broker, name, partitions):
    """The KafkaError of creating the topic, or None if it was created."""
    client = admin(broker)  # kept referenced: a collected client destroys its futures (_DESTROY)
    future = client.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)],
                                  request_timeout=60)[name]
    try:
        future.result(60)
        return None
    except Exception as error:  # confluent_kafka.KafkaException wrapping a KafkaError
        return error.args[0]


def partition_directories(broker, topic):
    return sorted(name for name in os.listdir(broker.data_dir) if name.rsplit("-", 1)[0] == topic)


def topics(broker):
    return set(admin(broker).list_topics(timeout=10).topics)


def produce_and_read(broker, topic, values, partition=0):
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    errors = []
    for value in values:
        producer.produce(topic, value=value, partition=partition, on_delivery=lambda err, _: errors.append(err))
    assert producer.flush(30) == 0
    assert errors == [None] * len(values)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "limits", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, partition, 0)])
    seen, deadline = [], time.time() + 20
    while len(seen) < len(values) and time.time() < deadline:
        message = consumer.poll(0.5)
        if message is not None:
            assert message.error() is None, message.error()
            seen.append(message.value())
    consumer.close()
    return seen


def test_partitions_beyond_the_descriptor_limit_are_refused_before_touching_the_disk(workdir):
    broker = LimitedBroker(os.path.join(workdir, "data"), LIMIT, LIMIT).start()
    try:
        assert create_error(broker, "keep", 4) is None
        assert produce_and_read(broker, "keep", [b"a", b"b"]) == [b"a", b"b"]

        # More than the descriptors carry (today's broker creates 300 and would run dry later),
        # Kafka's per-request cap, and the 100,000: refused, nothing on disk.
        for name, count, words in [("big", ROOM, "file descriptor limit"), ("huge", 10_001, "Excessively large"),
                                   ("vast", 100_000, "Excessively large")]:
            error = create_error(broker, name, count)
            assert error is not None and error.code() == KafkaError.POLICY_VIOLATION, (name, error)
            assert words in error.str(), error.str()
            assert partition_directories(broker, name) == []
            assert name not in topics(broker)

        # Growing a topic past the limit is refused the same way; the topic keeps its partitions.
        client = admin(broker)
        result = client.create_partitions([NewPartitions("keep", ROOM + 1)], request_timeout=30)["keep"]
        try:
            result.result(30)
            assert False, "CreatePartitions past the limit succeeded"
        except Exception as error:
            assert error.args[0].code() == KafkaError.POLICY_VIOLATION, error
        assert partition_directories(broker, "keep") == [f"keep-{i}" for i in range(4)]
        assert len(admin(broker).list_topics("keep", timeout=10).topics["keep"].partitions) == 4

        # What fits still works, and the other topics kept serving throughout.
        assert create_error(broker, "fits", ROOM - 4) is None
        assert produce_and_read(broker, "keep", [b"c"], partition=3) == [b"c"]
        assert create_error(broker, "one-more", 1) is not None

        assert broker.stop() == 0
        broker.start()
        assert {"keep", "fits"} <= topics(broker)
        assert produce_and_read(broker, "keep", [b"d"], partition=1) == [b"d"]
    finally:
        code = broker.stop()
    assert code == 0, broker.read_log()


def test_a_creation_that_fails_midway_is_rolled_back(workdir):
    broker = BrokerProcess(os.path.join(workdir, "data")).start()
    try:
        # A file where partition 3's directory must go: its log cannot be created.
        blocker = os.path.join(broker.data_dir, "mid-3")
        with open(blocker, "w") as f:
            f.write("in the way")
        assert create_error(broker, "mid", 6) is not None
        assert "mid" not in topics(broker)
        assert partition_directories(broker, "mid") == ["mid-3"] and os.path.isfile(blocker)

        # Nothing half-made is left: the same topic can be created once the way is clear,
        # and the broker restarts.
        os.remove(blocker)
        assert create_error(broker, "mid", 6) is None
        assert produce_and_read(broker, "mid", [b"x"], partition=5) == [b"x"]
        assert broker.stop() == 0
        broker.start()
        assert len(admin(broker).list_topics("mid", timeout=10).topics["mid"].partitions) == 6
    finally:
        code = broker.stop()
    assert code == 0, broker.read_log()


def test_the_soft_descriptor_limit_is_raised_to_the_hard_one(workdir):
    broker = LimitedBroker(os.path.join(workdir, "data"), 512, 4096).start()
    try:
        assert broker.open_file_limits() == (4096, 4096)
        # The raised limit is the one partitions are counted against: 256 would not fit in 512.
        assert create_error(broker, "wide", 256) is None
    finally:
        code = broker.stop()
    assert code == 0, broker.read_log()


def test_start_up_serves_the_rest_when_a_topics_log_cannot_be_created(workdir):
    broker = BrokerProcess(os.path.join(workdir, "data")).start()
    try:
        assert create_error(broker, "half", 4) is None
        assert create_error(broker, "whole", 1) is None
        assert broker.stop() == 0
        # As an older broker left a topic that ran out of descriptors: in the metadata, but one
        # partition's log missing and (here) impossible to create.
        for name in os.listdir(os.path.join(broker.data_dir, "half-2")):
            os.remove(os.path.join(broker.data_dir, "half-2", name))
        os.rmdir(os.path.join(broker.data_dir, "half-2"))
        with open(os.path.join(broker.data_dir, "half-2"), "w") as f:
            f.write("in the way")
        broker.start()
        assert "half-2" in broker.read_log()
        assert produce_and_read(broker, "whole", [b"w"]) == [b"w"]
        assert produce_and_read(broker, "half", [b"h"], partition=1) == [b"h"]
    finally:
        code = broker.stop()
    assert code == 0, broker.read_log()
