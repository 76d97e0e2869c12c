"""Regression tests for what librdkafka's own integration suite found wrong in the broker.

Each test reproduces, with confluent-kafka (librdkafka) and kafka-python against a real broker
process, what one test of librdkafka's suite (`tests/0xxx-*.c` in confluentinc/librdkafka) checks,
so CI catches a regression without that suite. The suite's full result, test by test, is in
`Tests/integration/README.md`."""
import time

from confluent_kafka import Consumer, KafkaError, TopicCollection, TopicPartition
from confluent_kafka.admin import AclOperation, AdminClient, NewTopic
from kafka.admin import KafkaAdminClient

import kafka_wire

WAIT = 30  # seconds: the bound on any one wait
SESSION = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
UNKNOWN_TOPIC_OR_PARTITION = 3


def create_topic(broker, name, partitions):
    client = AdminClient({"bootstrap.servers": broker.bootstrap})  # kept alive until the future completes
    client.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result(10)


def test_0030_an_offset_commit_for_a_topic_that_does_not_exist_is_refused(broker):
    """0030_offset_commit/do_nonexist_commit: committing offsets for a topic the cluster does not
    have is answered UNKNOWN_TOPIC_OR_PARTITION for each partition (librdkafka retries it, then
    reports it to the commit callback), and nothing is stored for the group."""
    results = []
    consumer = Consumer({
        "bootstrap.servers": broker.bootstrap, "group.id": "g-0030", "enable.auto.commit": False,
        "on_commit": lambda err, partitions: results.extend(partitions)})
    try:
        consumer.commit(offsets=[TopicPartition("no-such-topic", 0, 123), TopicPartition("no-such-topic", 1, 456)],
                        asynchronous=True)
        deadline = time.time() + WAIT
        while len(results) < 2 and time.time() < deadline:
            consumer.poll(0.1)
        errors = {(tp.topic, tp.partition): tp.error.code() if tp.error else KafkaError.NO_ERROR for tp in results}
        assert errors == {("no-such-topic", 0): KafkaError.UNKNOWN_TOPIC_OR_PART,
                          ("no-such-topic", 1): KafkaError.UNKNOWN_TOPIC_OR_PART}, errors
    finally:
        consumer.close()
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        assert admin.list_group_offsets(["g-0030"])["g-0030"] == {}
    finally:
        admin.close()


def test_0030_a_commit_naming_known_and_unknown_partitions_stores_only_the_known_ones(broker):
    """Kafka answers per partition: one that does not exist (unknown topic, or an index past the
    topic's partition count) is refused, the rest of the same request is committed."""
    create_topic(broker, "known", 2)
    conn = kafka_wire.Connection(broker)
    try:
        errors = kafka_wire.offset_commit_v2(conn, "g-mixed", {
            ("no-such-topic", 0): 123, ("known", 1): 7, ("known", 5): 9, ("known", -1): 3})
    finally:
        conn.close()
    assert errors == {("no-such-topic", 0): UNKNOWN_TOPIC_OR_PARTITION, ("known", 1): 0,
                      ("known", 5): UNKNOWN_TOPIC_OR_PARTITION, ("known", -1): UNKNOWN_TOPIC_OR_PARTITION}, errors
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)  # OffsetFetch for the whole group
    try:
        stored = {(tp.topic, tp.partition): meta.offset for tp, meta in admin.list_group_offsets(["g-mixed"])["g-mixed"].items()}
    finally:
        admin.close()
    assert stored == {("known", 1): 7}, stored


def test_0081_authorized_operations_are_every_operation_the_resource_supports_without_an_authorizer(broker):
    """0081_admin/do_test_DescribeTopics, do_test_DescribeCluster, do_test_DescribeConsumerGroups
    with include_authorized_operations: a broker without an authorizer answers, as Kafka does,
    every operation the resource type supports (8 for a topic, 7 for the cluster, 5 for a group);
    without the option the fields stay unset."""
    create_topic(broker, "ops", 1)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "g-ops", **SESSION})
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    try:
        consumer.subscribe(["ops"])
        deadline = time.time() + WAIT
        while not consumer.assignment() and time.time() < deadline:
            consumer.poll(0.1)
        assert consumer.assignment(), "the consumer never joined"
        topic = admin.describe_topics(TopicCollection(["ops"]), include_authorized_operations=True)["ops"].result(10)
        assert set(topic.authorized_operations) == {
            AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE, AclOperation.DELETE, AclOperation.ALTER,
            AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS}
        cluster = admin.describe_cluster(include_authorized_operations=True).result(10)
        assert set(cluster.authorized_operations) == {
            AclOperation.CREATE, AclOperation.ALTER, AclOperation.DESCRIBE, AclOperation.CLUSTER_ACTION,
            AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS, AclOperation.IDEMPOTENT_WRITE}
        group = admin.describe_consumer_groups(["g-ops"], include_authorized_operations=True)["g-ops"].result(10)
        assert set(group.authorized_operations) == {
            AclOperation.READ, AclOperation.DESCRIBE, AclOperation.DELETE, AclOperation.DESCRIBE_CONFIGS,
            AclOperation.ALTER_CONFIGS}
        assert not admin.describe_topics(TopicCollection(["ops"]))["ops"].result(10).authorized_operations
        assert not admin.describe_cluster().result(10).authorized_operations
    finally:
        consumer.close()
