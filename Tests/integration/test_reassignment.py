"""Partition reassignment (issue 13, KIP-455): etcd and real broker processes; the moves are
asked for with kafka-python's admin client (AlterPartitionReassignments and
ListPartitionReassignments) and with `runnel topic reassign`, under an acks=all load from
confluent-kafka whose every acknowledged record is counted afterwards."""
import os
import random
import signal
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from kafka import KafkaAdminClient, TopicPartition as KafkaPythonPartition
from kafka.errors import InvalidReplicationAssignmentError, NoReassignmentInProgressError, UnknownTopicOrPartitionError

from cluster import Cluster
from conftest import RUNNEL
from test_replication import KeyedLoad, audit, read_everything, state

LEASE_MS = 1000
EXTRA = ["--override", "replica.lag.time.max.ms=2000", "--override", "replica.fetch.backoff.ms=200"]


def runnel(cluster, *args, check=True, timeout=90):
    result = subprocess.run([RUNNEL, *args, "--bootstrap-server", cluster.bootstrap], capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, f"runnel {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def admin(cluster):
    return KafkaAdminClient(bootstrap_servers=cluster.bootstrap, request_timeout_ms=20_000)


def add_broker(cluster, workdir, broker_id, lease_ms=LEASE_MS):
    cluster.brokers[broker_id] = cluster.make_broker(workdir, broker_id, lease_ms, EXTRA).start()
    cluster.wait_until(lambda m: broker_id in m["brokers"])
    return cluster.brokers[broker_id]


def partition_dirs(workdir, broker_id, topic):
    data = os.path.join(workdir, f"broker-{broker_id}", "data")
    return sorted(name for name in os.listdir(data) if name.rsplit("-", 1)[0] == topic)


def wait_for(condition, timeout=20, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def log_bytes(workdir, broker_id, topic, partition):
    directory = os.path.join(workdir, f"broker-{broker_id}", "data", f"{topic}-{partition}")
    return b"".join(open(os.path.join(directory, name), "rb").read() for name in sorted(os.listdir(directory)) if name.endswith(".log"))


@pytest.fixture
def cluster(workdir, etcd):
    c = Cluster(workdir, etcd, count=3, lease_ms=LEASE_MS, extra_args=EXTRA).start()
    yield c
    c.stop()


def test_partitions_move_to_a_new_broker_under_acks_all_load_and_lose_nothing(cluster, workdir):
    topic = "ledger"
    client = admin(cluster)
    from kafka.admin import NewTopic
    client.create_topics([NewTopic(topic, 2, 3, topic_configs={"min.insync.replicas": "2"})])
    cluster.wait_until(lambda m: topic in m["topics"] and all(sorted(state(m, topic, p)[3]) == [1, 2, 3] for p in range(2)),
                       topics=[topic], timeout=30)
    load = KeyedLoad(cluster.bootstrap, topic=topic).start()
    load.wait_for_more(200)
    add_broker(cluster, workdir, 4)

    # Broker 1 leaves both partitions, broker 4 joins them; partition 0 prefers broker 4.
    results = client.alter_partition_reassignments({
        KafkaPythonPartition(topic, 0): [4, 2, 3], KafkaPythonPartition(topic, 1): [2, 3, 4]})
    assert results == {KafkaPythonPartition(topic, 0): None, KafkaPythonPartition(topic, 1): None}
    # `--wait` alone follows the moves to their end.
    out = runnel(cluster, "topic", "reassign", "--topic", topic, "--wait").stdout
    assert f"Reassignment of {topic}-0 complete." in out and f"Reassignment of {topic}-1 complete." in out, out
    assert client.list_partition_reassignments() == {}
    assert "No partition reassignment is in progress." in runnel(cluster, "topic", "reassign", "--list").stdout

    metadata = cluster.wait_until(
        lambda m: state(m, topic, 0)[2] == [4, 2, 3] and state(m, topic, 1)[2] == [2, 3, 4]
        and all(sorted(state(m, topic, p)[3]) == [2, 3, 4] and state(m, topic, p)[1] in (2, 3, 4) for p in range(2)),
        topics=[topic])
    print("after the move:", metadata["topics"][topic])
    # The load kept going through the move, and goes on after it.
    load.wait_for_more(200)
    load.stop()
    print(f"{len(load.acked)} acknowledged, errors by code {load.errors}")
    audit(load, read_everything(cluster, topic=topic, partitions=2))
    # Broker 1 no longer holds the partitions: their logs are deleted there.
    wait_for(lambda: partition_dirs(workdir, 1, topic) == [], what="broker 1 to delete its replicas")

    # One more acks=all write through each partition, then the three replicas are the same bytes.
    final = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for partition in range(2):
        final.produce(topic, value=f"final:{partition}".encode(), partition=partition)
    assert final.flush(30) == 0
    codes = cluster.stop()
    assert all(code == 0 for code in codes.values()), codes
    for partition in range(2):
        copies = {broker_id: log_bytes(workdir, broker_id, topic, partition) for broker_id in (2, 3, 4)}
        assert len(set(copies.values())) == 1, f"{topic}-{partition}: replicas differ ({ {b: len(c) for b, c in copies.items()} })"
        assert len(copies[4]) > 0


def test_a_move_waits_for_its_new_replica_and_can_be_cancelled_and_bad_moves_are_refused(workdir, etcd):
    # A longer lease: the paused broker stays registered for a while, long enough to name it.
    cluster = Cluster(workdir, etcd, count=3, lease_ms=4000, extra_args=EXTRA).start()
    try:
        topic = "moves"
        client = admin(cluster)
        from kafka.admin import NewTopic
        client.create_topics([NewTopic(topic, replica_assignments={0: [1, 2]})])
        cluster.wait_until(lambda m: topic in m["topics"] and sorted(state(m, topic, 0)[3]) == [1, 2], topics=[topic])
        producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
        for i in range(500):
            producer.produce(topic, value=f"v{i}".encode(), partition=0)
        assert producer.flush(30) == 0

        tp = KafkaPythonPartition(topic, 0)
        with pytest.raises(NoReassignmentInProgressError):
            raise_first(client.alter_partition_reassignments({tp: None}))
        for bad in ([1, 9], [1, 1]):
            with pytest.raises(InvalidReplicationAssignmentError):
                raise_first(client.alter_partition_reassignments({tp: bad}))
        with pytest.raises(UnknownTopicOrPartitionError):
            raise_first(client.alter_partition_reassignments({KafkaPythonPartition("no-such-topic", 0): [1]}))
        failed = runnel(cluster, "topic", "reassign", "--topic", topic, "--replicas", "1,9", check=False)
        assert failed.returncode != 0 and "INVALID_REPLICA_ASSIGNMENT" in failed.stderr, failed.stderr
        # A partition named twice is moved once (here: where it already is, which changes nothing).
        same = runnel(cluster, "topic", "reassign", "--topic", topic, "--partition", "0", "--partition", "0", "--replicas", "1,2").stdout
        assert same.count(f"Reassignment of {topic}-0 to [1, 2] started.") == 1, same

        # Broker 3 is paused while still registered: the move to it cannot finish.
        os.kill(cluster.brokers[3].broker_pid(), signal.SIGSTOP)
        try:
            assert raise_first(client.alter_partition_reassignments({tp: [1, 3]})) is None
            time.sleep(3)  # plenty for an unpaused replica of 500 small records
            ongoing = client.list_partition_reassignments()
            assert ongoing == {tp: {"replicas": [1, 3, 2], "adding_replicas": [3], "removing_replicas": [2]}}, ongoing
            listed = runnel(cluster, "topic", "reassign", "--list").stdout
            assert f"{topic}-0: replicas 1,3,2, adding 3, removing 2" in listed, listed
            metadata = cluster.metadata(topics=[topic])
            assert state(metadata, topic, 0)[2] == [1, 3, 2] and sorted(state(metadata, topic, 0)[3]) == [1, 2]

            out = runnel(cluster, "topic", "reassign", "--topic", topic, "--cancel").stdout
            assert f"Cancelled the reassignment of {topic}-0." in out
            assert client.list_partition_reassignments() == {}
            cluster.wait_until(lambda m: state(m, topic, 0)[2] == [1, 2] and sorted(state(m, topic, 0)[3]) == [1, 2], topics=[topic])
        finally:
            os.kill(cluster.brokers[3].broker_pid(), signal.SIGCONT)
        # Woken up, broker 3 finds it is not a replica and keeps no copy.
        wait_for(lambda: partition_dirs(workdir, 3, topic) == [], what="broker 3 to drop the cancelled replica")
        # Nothing was lost or changed by the cancelled move.
        records = read_everything(cluster, topic=topic, partitions=1)[0]
        assert [value for _, _, value in records] == [f"v{i}" for i in range(500)]
        client.close()
    finally:
        cluster.stop()


def test_a_replica_removed_and_added_back_at_once_is_not_taken_for_its_old_copy(cluster, workdir):
    # Broker 2 leaves the partition and comes back before anyone waits: its copy is deleted and
    # started again empty. A leader that credited the new copy with the old one's progress would
    # let the move onto broker 2 alone make an empty log the leader, losing everything. (Found by
    # hostile testing; this sequence broke within a few cycles before the fix.)
    topic = "readd"
    client = admin(cluster)
    from kafka.admin import NewTopic
    client.create_topics([NewTopic(topic, replica_assignments={0: [1, 2, 3]}, topic_configs={"min.insync.replicas": "2"})])
    cluster.wait_until(lambda m: topic in m["topics"] and sorted(state(m, topic, 0)[3]) == [1, 2, 3], topics=[topic], timeout=30)
    load = KeyedLoad(cluster.bootstrap, topic=topic).start()
    load.wait_for_more(300)
    tp = KafkaPythonPartition(topic, 0)

    def high_watermark():
        # Right after a move the client may still ask the previous leader: ask again.
        deadline = time.monotonic() + 20
        while True:
            consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "readd-watermarks"})
            try:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
                assert low == 0
                return high
            except KafkaException as error:
                # NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, OFFSET_NOT_AVAILABLE (a new leader
                # epoch whose high watermark has not caught up yet): Kafka's retriable answers.
                assert error.args[0].code() in (5, 6, 78) and time.monotonic() < deadline, error
                time.sleep(0.2)
            finally:
                consumer.close()

    pauses = random.Random(1)
    for cycle in range(12):
        before = high_watermark()
        assert raise_first(client.alter_partition_reassignments({tp: [1, 3]})) is None
        time.sleep(pauses.random() * 0.3)
        assert raise_first(client.alter_partition_reassignments({tp: [1, 2, 3]})) is None
        time.sleep(pauses.random() * 0.3)
        assert raise_first(client.alter_partition_reassignments({tp: [2]})) is None
        wait_for(lambda: client.list_partition_reassignments() == {}, timeout=60, what="the move onto broker 2")
        # Alone, broker 2 is below min.insync.replicas: its high watermark stands still until
        # the others are back; then it must be where it was, or further.
        assert raise_first(client.alter_partition_reassignments({tp: [1, 2, 3]})) is None
        wait_for(lambda: client.list_partition_reassignments() == {}, timeout=60, what="the move back")
        cluster.wait_until(lambda m: sorted(state(m, topic, 0)[3]) == [1, 2, 3], topics=[topic], timeout=60)
        after = high_watermark()
        assert after >= before, f"cycle {cycle}: the high watermark went from {before} back to {after}"
    load.stop()
    print(f"{len(load.acked)} acknowledged, errors by code {load.errors}")
    audit(load, read_everything(cluster, topic=topic, partitions=1))
    client.close()


def raise_first(results):
    """kafka-python returns per-partition errors as classes: raise the first, if any."""
    for error in results.values():
        if error is not None:
            raise error()
    return None
