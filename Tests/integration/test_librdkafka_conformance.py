"""Regression tests for what librdkafka's own integration suite found wrong in the broker.

Each test reproduces, with confluent-kafka (librdkafka) and kafka-python against a real broker
process, what one test of librdkafka's suite (`tests/0xxx-*.c` in confluentinc/librdkafka) checks,
so CI catches a regression without that suite. The suite's full result, test by test, is in
`Tests/integration/README.md`."""
import os
import subprocess
import sys
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicCollection, TopicPartition
from confluent_kafka.admin import (AclOperation, AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource,
                                   NewPartitions, NewTopic)
from confluent_kafka.admin import ResourceType as ConfigResourceType
from kafka.admin import KafkaAdminClient

import kafka_wire
from cluster import Cluster
from conftest import BrokerProcess

WAIT = 30  # seconds: the bound on any one wait
SESSION = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
UNKNOWN_TOPIC_OR_PARTITION = 3
COORDINATOR_LOAD_IN_PROGRESS = 14
COORDINATOR_NOT_AVAILABLE = 15
INVALID_REGULAR_EXPRESSION = 128


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


def group_config(admin, group):
    resource = ConfigResource(ConfigResourceType.GROUP, group)
    entries = admin.describe_configs([resource])[resource].result(10)
    return {name: (entry.value, entry.source) for name, entry in entries.items()}


def alter_group_config(admin, group, *entries):
    resource = ConfigResource(ConfigResourceType.GROUP, group, incremental_configs=[
        ConfigEntry(name, value, incremental_operation=operation) for name, value, operation in entries])
    return admin.incremental_alter_configs([resource])[resource].result(10)


def consumer_group_members(admin, group):
    return len(admin.describe_consumer_groups([group])[group].result(10).members)


KIP848_MEMBER = """
import sys, time
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "group.protocol": "consumer"})
c.subscribe([sys.argv[3]])
while True:
    c.poll(0.2)
"""


def test_0081_group_configs_are_validated_stored_described_and_shorten_a_consumer_groups_session(workdir):
    """0081_admin/do_test_IncrementalAlterConfigs and do_test_DescribeConfigs_groups: a
    consumer group's own `consumer.session.timeout.ms` and `consumer.heartbeat.interval.ms`
    (Kafka 4's GROUP config resource), bounded by the broker's group.consumer.min/max.* settings,
    kept across a restart, and used: a member that dies is expired after the group's session
    timeout, not the broker's 45 s default."""
    data = os.path.join(workdir, "data")
    bounds = ["--override", "group.consumer.min.session.timeout.ms=1000",
              "--override", "group.consumer.min.heartbeat.interval.ms=100"]
    broker = BrokerProcess(data, extra_args=bounds).start()
    try:
        create_topic(broker, "gc", 2)
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        assert group_config(admin, "g848") == {
            "consumer.session.timeout.ms": ("45000", ConfigSource.DEFAULT_CONFIG.value),
            "consumer.heartbeat.interval.ms": ("5000", ConfigSource.DEFAULT_CONFIG.value)}
        refused = [
            [("consumer.session.timeout.ms", "500", AlterConfigOpType.SET)],  # below the broker's minimum
            [("consumer.session.timeout.ms", "70000", AlterConfigOpType.SET)],  # above its maximum (60 s)
            [("consumer.session.timeout.ms", "2000", AlterConfigOpType.SET),
             ("consumer.heartbeat.interval.ms", "2000", AlterConfigOpType.SET)],  # heartbeat not below the session
            [("share.record.lock.duration.ms", "30000", AlterConfigOpType.SET)],  # a share-group key: no share groups
            [("consumer.session.timeout.ms", "2000", AlterConfigOpType.APPEND)],  # not a list
        ]
        for entries in refused:
            with pytest.raises(KafkaException) as error:
                alter_group_config(admin, "g848", *entries)
            assert error.value.args[0].code() == KafkaError.INVALID_CONFIG, entries
        assert group_config(admin, "g848")["consumer.session.timeout.ms"] == ("45000", ConfigSource.DEFAULT_CONFIG.value)
        alter_group_config(admin, "g848", ("consumer.session.timeout.ms", "3000", AlterConfigOpType.SET),
                           ("consumer.heartbeat.interval.ms", "500", AlterConfigOpType.SET))
    finally:
        assert broker.stop() == 0
    broker = BrokerProcess(data, extra_args=bounds).start()
    member = None
    try:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        assert group_config(admin, "g848") == {
            "consumer.session.timeout.ms": ("3000", ConfigSource.GROUP_CONFIG.value),
            "consumer.heartbeat.interval.ms": ("500", ConfigSource.GROUP_CONFIG.value)}
        # Synonyms (librdkafka always asks for them): the group's value, then the broker default it overrides.
        resource = ConfigResource(ConfigResourceType.GROUP, "g848")
        session = admin.describe_configs([resource])[resource].result(10)["consumer.session.timeout.ms"]
        assert [(s.name, s.value, s.source) for s in session.synonyms.values()] == [
            ("consumer.session.timeout.ms", "3000", ConfigSource.GROUP_CONFIG.value),
            ("group.consumer.session.timeout.ms", "45000", ConfigSource.DEFAULT_CONFIG.value)]
        member = subprocess.Popen([sys.executable, "-c", KIP848_MEMBER, broker.bootstrap, "g848", "gc"])
        deadline = time.time() + WAIT
        while consumer_group_members(admin, "g848") != 1 and time.time() < deadline:
            time.sleep(0.2)
        assert consumer_group_members(admin, "g848") == 1, "the KIP-848 member never joined"
        member.kill()  # no leave: only the session timeout removes it
        member.wait()
        # The broker's default session (45 s) would keep it past this deadline; the group's 3 s does not.
        deadline = time.time() + 20
        while consumer_group_members(admin, "g848") != 0 and time.time() < deadline:
            time.sleep(0.2)
        assert consumer_group_members(admin, "g848") == 0, "the dead member outlived the group's session timeout"
        alter_group_config(admin, "g848", ("consumer.session.timeout.ms", "", AlterConfigOpType.DELETE))
        assert group_config(admin, "g848") == {
            "consumer.session.timeout.ms": ("45000", ConfigSource.DEFAULT_CONFIG.value),
            "consumer.heartbeat.interval.ms": ("500", ConfigSource.GROUP_CONFIG.value)}
    finally:
        if member and member.poll() is None:
            member.kill()
        assert broker.stop() == 0


def test_group_configs_set_through_one_broker_are_seen_by_the_others(workdir, etcd):
    """In a cluster, group configs live in etcd: the broker that coordinates the group after a
    failover must use the same values."""
    cluster = Cluster(workdir, etcd, count=2).start()
    try:
        first, second = (AdminClient({"bootstrap.servers": b.bootstrap}) for b in cluster.brokers.values())
        alter_group_config(first, "group/with/slashes", ("consumer.session.timeout.ms", "50000", AlterConfigOpType.SET))
        deadline = time.time() + WAIT
        while group_config(second, "group/with/slashes")["consumer.session.timeout.ms"][0] != "50000" and time.time() < deadline:
            time.sleep(0.1)
        assert group_config(second, "group/with/slashes")["consumer.session.timeout.ms"] == ("50000", ConfigSource.GROUP_CONFIG.value)
        assert group_config(second, "group")["consumer.session.timeout.ms"] == ("45000", ConfigSource.DEFAULT_CONFIG.value)
    finally:
        codes = cluster.stop()
        assert all(code == 0 for code in codes.values()), codes


def produce(broker, topic, count, partitions):
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(count):
        producer.produce(topic, value=f"{topic}-{i}".encode(), partition=i % partitions)
    assert producer.flush(30) == 0


def poll_until(consumers, condition, timeout=WAIT):
    """Polls every consumer in turn (which drives their rebalances and fetches) until
    `condition()` holds; fails the test at the deadline."""
    deadline = time.time() + timeout
    while not condition() and time.time() < deadline:
        for c in consumers:
            c.poll(0.1)
    assert condition(), "the condition did not hold within the deadline"


def test_0091_a_member_past_max_poll_interval_leaves_and_the_other_takes_over_and_commits(broker):
    """0091_max_poll_interval_timeout: a member that stops polling for longer than
    max.poll.interval.ms leaves the group (librdkafka sends LeaveGroup); the group rebalances
    at once, the remaining member is given every partition and its commits succeed (no
    REBALANCE_IN_PROGRESS once it has rejoined)."""
    create_topic(broker, "mpi", 2)
    produce(broker, "mpi", 10, 2)
    settings = {"bootstrap.servers": broker.bootstrap, "group.id": "g-mpi", "enable.auto.commit": False,
                "auto.offset.reset": "earliest", "max.poll.interval.ms": 7000, **SESSION}
    active, stalled = Consumer(settings), Consumer(settings)
    try:
        for c in (active, stalled):
            c.subscribe(["mpi"])
        poll_until([active, stalled], lambda: len(active.assignment()) == 1 and len(stalled.assignment()) == 1)
        # `stalled` stops polling: only max.poll.interval.ms (7 s) can end its membership, well
        # before its session (it keeps heartbeating from librdkafka's own thread).
        poll_until([active], lambda: len(active.assignment()) == 2, timeout=WAIT)
        produce(broker, "mpi", 10, 2)
        poll_until([active], lambda: all(tp.offset == 10 for tp in active.position(active.assignment())))
        committed = active.commit(asynchronous=False)
        assert all(tp.error is None for tp in committed), committed
        assert sorted((tp.partition, tp.offset) for tp in active.committed(
            [TopicPartition("mpi", 0), TopicPartition("mpi", 1)], timeout=10)) == [(0, 10), (1, 10)]
    finally:
        active.close()
        stalled.close()


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_0033_a_regex_subscription_with_the_range_assignor_is_assigned_every_matching_topic(broker, protocol):
    """0033_regex_subscribe, in both group protocols: with the classic one librdkafka matches
    `^...` subscriptions against Metadata for all topics and joins with the matching names; with
    KIP-848's it sends the regex in ConsumerGroupHeartbeat and the coordinator resolves it. Either
    way two members with the range assignor together hold every partition of every matching
    topic, none of the others (nor, resolved by the broker, `__consumer_offsets`), and a matching
    topic created later joins the assignment."""
    for name in ("rx_a", "rx_b", "other"):
        create_topic(broker, name, 2)
    settings = {"bootstrap.servers": broker.bootstrap, "group.id": f"g-rx-{protocol}", "topic.metadata.refresh.interval.ms": 1000}
    if protocol == "classic":
        settings.update({"partition.assignment.strategy": "range", **SESSION})
    else:
        settings.update({"group.protocol": "consumer", "group.remote.assignor": "range"})
    members = [Consumer(settings), Consumer(settings)]
    try:
        for c in members:
            # The broker never subscribes a regex to an internal topic (librdkafka's classic
            # client-side matching has no such rule, so only the broker's side is asked).
            c.subscribe(["^(rx_.*|__consumer_offsets)" if protocol == "consumer" else "^rx_.*"])

        def assigned():
            return sorted((tp.topic, tp.partition) for c in members for tp in c.assignment())

        expected = [("rx_a", 0), ("rx_a", 1), ("rx_b", 0), ("rx_b", 1)]
        poll_until(members, lambda: assigned() == expected and all(c.assignment() for c in members))
        create_topic(broker, "rx_c", 2)
        poll_until(members, lambda: assigned() == sorted(expected + [("rx_c", 0), ("rx_c", 1)]))
    finally:
        for c in members:
            c.close()


def test_0051_the_first_group_of_a_new_cluster_commits_and_fetches_offsets_without_errors(workdir, etcd):
    """0051_assign_adds, 0130_store_offsets and 0081_admin's offset subtests on a fresh 3-broker
    cluster: the first group creates `__consumer_offsets` through one broker, which names each
    partition's leader as coordinator at once, while that leader may still be creating its 50
    logs. Its group requests wait for it instead of answering COORDINATOR_NOT_AVAILABLE or
    COORDINATOR_LOAD_IN_PROGRESS straight away, which librdkafka hands to the application after
    a few quick retries ("Failed to fetch committed offsets", a failed commit)."""
    cluster = Cluster(workdir, etcd, count=3).start()
    try:
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        admin.create_topics([NewTopic("first", num_partitions=3, replication_factor=3)])["first"].result(10)
        consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "g-first", "enable.auto.commit": False})
        try:
            offsets = [TopicPartition("first", p, 10 + p) for p in range(3)]
            committed = consumer.commit(offsets=offsets, asynchronous=False)
            assert all(tp.error is None for tp in committed), committed
            fetched = consumer.committed([TopicPartition("first", p) for p in range(3)], timeout=10)
            assert [(tp.partition, tp.offset, tp.error) for tp in fetched] == [(p, 10 + p, None) for p in range(3)]
        finally:
            consumer.close()
    finally:
        codes = cluster.stop()
        assert all(code == 0 for code in codes.values()), codes


def test_a_group_request_on_a_broker_that_cannot_have_the_offsets_topic_yet_is_answered_load_in_progress(workdir, etcd):
    """One broker of a cluster whose `__consumer_offsets` cannot be created yet (it needs 3 live
    brokers): FindCoordinator answers COORDINATOR_NOT_AVAILABLE, and a group request sent anyway
    waits its bounded while and answers COORDINATOR_LOAD_IN_PROGRESS, which clients retry."""
    cluster = Cluster(workdir, etcd, count=1).start()
    conn = kafka_wire.Connection(cluster.brokers[1], timeout=30)
    try:
        assert kafka_wire.find_coordinator_v0(conn, "g-early")[0] == COORDINATOR_NOT_AVAILABLE
        assert kafka_wire.offset_fetch_v2_error(conn, "g-early") == COORDINATOR_LOAD_IN_PROGRESS
    finally:
        conn.close()
        codes = cluster.stop()
        assert all(code == 0 for code in codes.values()), codes


def test_0081_create_partitions_places_new_partitions_where_the_request_says(workdir, etcd):
    """0081_admin/do_test_CreatePartitions "with replicas set", on 3 brokers: the new partitions
    get exactly the replicas the request names (in order: the first is the preferred leader);
    an assignment of the wrong length, the wrong replication factor or an unknown broker is
    refused with INVALID_REPLICA_ASSIGNMENT and nothing changes."""
    cluster = Cluster(workdir, etcd, count=3).start()
    try:
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        admin.create_topics([NewTopic("grow", num_partitions=1, replication_factor=3)])["grow"].result(10)
        for bad in ([[1, 2, 3]], [[1, 2], [2, 3]], [[1, 2, 9], [2, 3, 1]], [[1, 1, 2], [2, 3, 1]]):
            with pytest.raises(KafkaException) as error:
                admin.create_partitions([NewPartitions("grow", 3, replica_assignment=bad)])["grow"].result(10)
            assert error.value.args[0].code() == KafkaError.INVALID_REPLICA_ASSIGNMENT, bad
        admin.create_partitions([NewPartitions("grow", 3, replica_assignment=[[3, 2, 1], [2, 1, 3]])])["grow"].result(10)
        for broker in cluster.brokers.values():
            cluster.wait_until(lambda m: len(m["topics"]["grow"][1]) == 3, via=broker, topics=["grow"])
            partitions = cluster.metadata(via=broker, topics=["grow"])["topics"]["grow"][1]
            assert partitions[1][2] == [3, 2, 1] and partitions[2][2] == [2, 1, 3], partitions
    finally:
        codes = cluster.stop()
        assert all(code == 0 for code in codes.values()), codes


def test_a_hostile_or_broken_subscription_regex_is_answered_and_stalls_no_one(broker):
    """KIP-848 regexes come from clients and are resolved under the coordinator's lock. A
    pattern that makes backtracking engines run for ages against a long topic name is matched
    in linear time (the heartbeat is answered, and other groups keep working); one that is not a
    supported regular expression gets INVALID_REGULAR_EXPRESSION."""
    create_topic(broker, "a" * 249, 1)
    conn = kafka_wire.Connection(broker, timeout=WAIT)
    try:
        error, _ = kafka_wire.consumer_group_heartbeat_v1_error(conn, "g-hostile", "m-hostile-1", "(a+)+b")
        assert error == 0
        error, _ = kafka_wire.consumer_group_heartbeat_v1_error(conn, "g-hostile", "m-hostile-2", "(.*.*)*.*.*.*.*.*.*.*b")
        assert error == 0
        for broken in ("rx_(", "(?=a)a", "(a)\\1", "a{2000}"):
            error, message = kafka_wire.consumer_group_heartbeat_v1_error(conn, "g-broken", "m-broken", broken)
            assert error == INVALID_REGULAR_EXPRESSION and broken in message, (broken, error, message)
    finally:
        conn.close()
    # Everyone else is still served: a classic group commits and reads its offsets.
    create_topic(broker, "after", 1)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "g-after", "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition("after", 0, 5)], asynchronous=False)
        assert consumer.committed([TopicPartition("after", 0)], timeout=10)[0].offset == 5
    finally:
        consumer.close()
