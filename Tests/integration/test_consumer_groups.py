"""Consumer groups through real clients, classic protocol only: confluent-kafka (librdkafka) and
kafka-python. Membership and rebalances (FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
LeaveGroup, a member that dies without leaving), committed offsets (OffsetCommit, OffsetFetch,
across a clean and a SIGKILL restart) and the admin side (ListGroups, DescribeGroups, DeleteGroups).

Every wait is a polling loop with a deadline. Sessions are short (6 s, heartbeats every 500 ms) so
that a dead member is noticed quickly. Consumers commit synchronously after each batch they
process, and the tests track every (partition, offset) processed, so a message delivered twice or
never is caught."""
import json
import os
import subprocess
import sys
import threading
import time

import pytest
from confluent_kafka import (Consumer, ConsumerGroupState, ConsumerGroupTopicPartitions, KafkaError, KafkaException,
                             Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer
from kafka import TopicPartition as KPTopicPartition
from kafka.admin import KafkaAdminClient

from conftest import BrokerProcess

WAIT = 30  # seconds: the bound on any one wait for a rebalance or for messages
SESSION = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}


def create_topic(broker, name, partitions):
    client = AdminClient({"bootstrap.servers": broker.bootstrap})  # kept alive until the future completes
    client.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result(10)


def produce(broker, topic, count, start=0, partitions=None):
    """Keyed messages number start..start+count-1; returns {(partition, offset): value} from the
    delivery reports. With `partitions`, message i goes to partition i % partitions."""
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    delivered, failed = {}, []

    def report(err, msg):
        if err is None:
            delivered[(msg.partition(), msg.offset())] = msg.value()
        else:
            failed.append(err)

    for i in range(start, start + count):
        where = {"partition": i % partitions} if partitions else {}
        producer.produce(topic, key=f"key-{i % 101}".encode(), value=f"{topic} message {i}".encode(),
                         on_delivery=report, **where)
    assert producer.flush(30) == 0
    assert not failed, failed
    assert len(delivered) == count
    return delivered


def ends(delivered):
    """{partition: the offset after its last delivered message}."""
    result = {}
    for partition, offset in delivered:
        result[partition] = max(result.get(partition, 0), offset + 1)
    return result


def group_config(broker, group, extra=None):
    return {"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", **SESSION, **(extra or {})}


def group_consumer(broker, group, extra=None):
    return Consumer(group_config(broker, group, extra))


def owned_partitions(consumer):
    return {tp.partition for tp in consumer.assignment()}


def commit(consumer, offsets):
    """Synchronous commit of {(topic, partition): next offset}; every partition must succeed."""
    result = consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False)
    failed = [tp for tp in result if tp.error is not None]
    assert not failed, failed


def committed(consumer, topic, partitions):
    found = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    assert all(tp.error is None for tp in found), found
    return {tp.partition: tp.offset for tp in found}


class Tracker:
    """What the consumers of one group processed: (partition, offset) -> value, the index of the
    consumer that processed it, and every (partition, offset) processed a second time. With
    commit=True each consumer commits each batch synchronously right after processing it."""

    def __init__(self, consumers, commit=True):
        self.consumers, self.commit = consumers, commit  # the list is shared: the test may add or remove members
        self.seen, self.owner, self.duplicates = {}, {}, []

    def poll(self, timeout=0.1):
        for index, consumer in enumerate(self.consumers):
            last = {}
            for msg in consumer.consume(num_messages=500, timeout=timeout):
                assert msg.error() is None, msg.error()
                key = (msg.partition(), msg.offset())
                if key in self.seen:
                    self.duplicates.append(key)
                self.seen[key], self.owner[key] = msg.value(), index
                last[(msg.topic(), msg.partition())] = msg.offset() + 1
            if self.commit and last:
                commit(consumer, last)

    def wait_for(self, expected, timeout=WAIT):
        """Polls until every (partition, offset) of `expected` has been processed."""
        deadline = time.time() + timeout
        while not expected.keys() <= self.seen.keys():
            missing = expected.keys() - self.seen.keys()
            assert time.time() < deadline, f"{len(missing)} of {len(expected)} messages never came, e.g. {sorted(missing)[:5]}"
            self.poll()

    def settle(self, partitions, timeout=WAIT):
        """Polls until the consumers own all `partitions` between them, each consumer some and no
        partition two; returns each consumer's set of partitions."""
        deadline = time.time() + timeout
        while True:
            self.poll()
            owned = [owned_partitions(c) for c in self.consumers]
            if all(owned) and sum(map(len, owned)) == partitions and set().union(*owned) == set(range(partitions)):
                return owned
            assert time.time() < deadline, f"the group never settled: {owned}"

    def hold(self, owned, seconds=1.5):
        """Polls for a while: the settled assignment must not change without a change of members."""
        end = time.time() + seconds
        while time.time() < end:
            self.poll()
            assert [owned_partitions(c) for c in self.consumers] == owned, "the group rebalanced by itself"


def test_group_grows_and_shrinks_without_losing_or_repeating_a_message(broker):
    create_topic(broker, "grow", 12)
    produced = produce(broker, "grow", 1200)
    consumers = [group_consumer(broker, "grow-group", {"client.id": "grow-0"})]
    tracker = Tracker(consumers)
    try:
        consumers[0].subscribe(["grow"])
        tracker.wait_for(produced)
        assert tracker.seen == produced and not tracker.duplicates
        assert owned_partitions(consumers[0]) == set(range(12))

        # Two more members: after the rebalance each of the three owns a third, and the newcomers
        # start at the offsets the first one committed, so nothing is delivered a second time.
        for i in (1, 2):
            consumers.append(group_consumer(broker, "grow-group", {"client.id": f"grow-{i}"}))
            consumers[i].subscribe(["grow"])
        owned = tracker.settle(12)
        assert sorted(map(len, owned)) == [4, 4, 4], owned
        tracker.hold(owned)
        assert len(tracker.seen) == 1200 and not tracker.duplicates, tracker.duplicates[:10]

        more = produce(broker, "grow", 1200, start=1200)
        tracker.wait_for(more)
        produced.update(more)
        assert tracker.seen == produced and not tracker.duplicates, tracker.duplicates[:10]
        owner = {p: i for i, ps in enumerate(owned) for p in ps}
        assert all(tracker.owner[key] == owner[key[0]] for key in more), "a message came from a partition its consumer did not own"

        # One member leaves cleanly (LeaveGroup): the other two split the partitions, again without repeats.
        consumers.pop().close()
        owned = tracker.settle(12)
        assert sorted(map(len, owned)) == [6, 6], owned
        rest = produce(broker, "grow", 600, start=2400)
        tracker.wait_for(rest)
        produced.update(rest)
        assert tracker.seen == produced and not tracker.duplicates, tracker.duplicates[:10]
        assert committed(consumers[0], "grow", 12) == ends(produced)
    finally:
        for consumer in consumers:
            consumer.close()


# Joins the group, prints each assignment change, never commits, polls until killed.
DOOMED_CONSUMER = r"""
import json, sys
from confluent_kafka import Consumer
config, topic = json.loads(sys.argv[1]), sys.argv[2]
consumer = Consumer(config)
def on_assign(_, partitions):
    print("assigned", json.dumps(sorted(p.partition for p in partitions)), flush=True)
def on_revoke(_, partitions):
    print("revoked", json.dumps(sorted(p.partition for p in partitions)), flush=True)
consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
while True:
    consumer.poll(0.1)
"""


class AssignmentLog:
    """The doomed consumer's latest assignment, read from what it prints."""

    def __init__(self, stream):
        self.current, self.lines, self.lock = set(), [], threading.Lock()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for raw in stream:
            line = raw.decode().strip()
            event, _, partitions = line.partition(" ")
            if event not in ("assigned", "revoked"):
                continue
            with self.lock:
                self.lines.append(line)
                self.current = set(json.loads(partitions)) if event == "assigned" else set()

    def partitions(self):
        with self.lock:
            return set(self.current)


def test_partitions_of_a_killed_member_move_to_the_survivor(broker, workdir):
    create_topic(broker, "takeover", 6)
    produced = produce(broker, "takeover", 120)
    everything = set(range(6))
    log_path = os.path.join(workdir, "doomed-consumer.log")
    with open(log_path, "wb") as log:
        doomed = subprocess.Popen(
            [sys.executable, "-c", DOOMED_CONSUMER,
             json.dumps(group_config(broker, "takeover-group", {"client.id": "doomed"})), "takeover"],
            stdout=subprocess.PIPE, stderr=log)
    assignments = AssignmentLog(doomed.stdout)
    survivor = None

    def doomed_state():
        with open(log_path, errors="replace") as f:
            return f"doomed consumer printed {assignments.lines}, exit {doomed.poll()}, stderr:\n{f.read()[-3000:]}"

    try:
        deadline = time.time() + WAIT
        while assignments.partitions() != everything:
            assert doomed.poll() is None and time.time() < deadline, doomed_state()
            time.sleep(0.1)

        # No commits here: after the takeover the survivor reads the dead member's partitions from the start.
        survivor = group_consumer(broker, "takeover-group", {"client.id": "survivor"})
        survivor.subscribe(["takeover"])
        tracker = Tracker([survivor], commit=False)
        deadline = time.time() + WAIT
        while True:
            tracker.poll()
            mine, theirs = owned_partitions(survivor), assignments.partitions()
            if mine and theirs and not mine & theirs and mine | theirs == everything:
                break
            assert time.time() < deadline, f"the two members never split the partitions: survivor {mine}; " + doomed_state()

        doomed.kill()  # SIGKILL: no LeaveGroup, the broker only sees the heartbeats stop
        doomed.wait()
        killed = time.time()
        while owned_partitions(survivor) != everything:
            assert time.time() - killed < 6 + 10, (
                f"the survivor still owns only {owned_partitions(survivor)} 16 s after the other member died")
            tracker.poll()

        produced.update(produce(broker, "takeover", 120, start=120))
        tracker.wait_for(produced)
        assert tracker.seen == produced
    finally:
        if doomed.poll() is None:
            doomed.kill()
            doomed.wait()
        if survivor is not None:
            survivor.close()


@pytest.mark.parametrize("shutdown", ["sigterm", "sigkill"])
def test_committed_offsets_survive_a_broker_restart(workdir, shutdown):
    broker = BrokerProcess(os.path.join(workdir, "data"))
    first = second = None
    try:
        broker.start()
        create_topic(broker, "resume", 3)
        produced = produce(broker, "resume", 600, partitions=3)  # 200 a partition
        limits = {0: 50, 1: 100, 2: 150}  # 300 of the 600 get processed and committed

        first = group_consumer(broker, "resumer")
        first.subscribe(["resume"])
        processed = {p: 0 for p in limits}
        deadline = time.time() + WAIT
        while processed != limits:
            assert time.time() < deadline, f"processed only {processed} of {limits}"
            last = {}
            for msg in first.consume(num_messages=500, timeout=0.2):
                assert msg.error() is None, msg.error()
                p = msg.partition()
                if msg.offset() < limits[p]:
                    assert msg.offset() == processed[p], (p, msg.offset(), processed[p])
                    assert msg.value() == produced[(p, msg.offset())]
                    processed[p] += 1
                    last[("resume", p)] = msg.offset() + 1
            if last:
                commit(first, last)
        assert committed(first, "resume", 3) == limits

        if shutdown == "sigterm":
            first.close()
            first = None
            assert broker.stop() == 0, broker.read_log()
            assert "stopped cleanly" in broker.read_log()
        else:
            # Killed right after the last commit was acknowledged, with the member still in the group.
            broker.kill()
        broker = BrokerProcess(broker.data_dir, port=broker.port)
        broker.start()
        if first is not None:
            first.close()  # leaves the group (or finds itself already gone) so the next member gets everything
            first = None

        second = group_consumer(broker, "resumer")
        assert committed(second, "resume", 3) == limits
        second.subscribe(["resume"])
        got = {p: [] for p in limits}
        deadline = time.time() + WAIT
        while sum(map(len, got.values())) < 300:
            assert time.time() < deadline, {p: len(offsets) for p, offsets in got.items()}
            for msg in second.consume(num_messages=500, timeout=0.2):
                assert msg.error() is None, msg.error()
                assert msg.value() == produced[(msg.partition(), msg.offset())]
                got[msg.partition()].append(msg.offset())
        # Each partition resumes exactly at its committed offset: nothing skipped, nothing repeated.
        for p, start in limits.items():
            assert got[p] == list(range(start, 200)), (p, got[p][:5])
        second.close()
        second = None
        assert broker.stop() == 0, broker.read_log()
    finally:
        for consumer in (first, second):
            if consumer is not None:
                consumer.close()
        broker.kill()


def test_two_groups_each_receive_every_message(broker):
    create_topic(broker, "fanout", 4)
    groups = {"fanout-a": [group_consumer(broker, "fanout-a") for _ in range(2)],
              "fanout-b": [group_consumer(broker, "fanout-b")]}
    trackers = {name: Tracker(consumers) for name, consumers in groups.items()}
    try:
        for consumers in groups.values():
            for consumer in consumers:
                consumer.subscribe(["fanout"])
        for tracker in trackers.values():
            tracker.settle(4)
        produced = produce(broker, "fanout", 400)
        deadline = time.time() + WAIT
        while not all(produced.keys() <= t.seen.keys() for t in trackers.values()):
            assert time.time() < deadline, {name: len(t.seen) for name, t in trackers.items()}
            for tracker in trackers.values():
                tracker.poll()
        for name, tracker in trackers.items():
            assert tracker.seen == produced and not tracker.duplicates, (name, tracker.duplicates[:10])
            assert committed(groups[name][0], "fanout", 4) == ends(produced)
    finally:
        for consumers in groups.values():
            for consumer in consumers:
                consumer.close()


def test_admin_lists_describes_and_deletes_groups(broker):
    create_topic(broker, "adm", 6)
    client = AdminClient({"bootstrap.servers": broker.bootstrap})
    kp_admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    busy = [group_consumer(broker, "adm-busy", {"client.id": f"busy-{i}"}) for i in range(2)]
    try:
        # adm-busy: two live members that consumed and committed everything.
        for consumer in busy:
            consumer.subscribe(["adm"])
        busy_tracker = Tracker(busy)
        busy_tracker.settle(6)
        produced = produce(broker, "adm", 60)
        busy_tracker.wait_for(produced)
        # adm-idle: its only member committed everything and left.
        idle = group_consumer(broker, "adm-idle")
        idle.subscribe(["adm"])
        Tracker([idle]).wait_for(produced)
        idle.close()
        # adm-simple: offsets committed by a consumer that never joined (generation -1, no member id).
        simple = group_consumer(broker, "adm-simple")
        commit(simple, {("adm", p): 1 for p in range(6)})
        simple.close()
        end = ends(produced)
        ours = {"adm-busy", "adm-idle", "adm-simple"}

        listing = client.list_consumer_groups(request_timeout=10).result()
        assert not listing.errors, listing.errors
        states = {g.group_id: g.state for g in listing.valid if g.group_id in ours}
        assert states == {"adm-busy": ConsumerGroupState.STABLE, "adm-idle": ConsumerGroupState.EMPTY,
                          "adm-simple": ConsumerGroupState.EMPTY}
        assert not next(g for g in listing.valid if g.group_id == "adm-busy").is_simple_consumer_group
        stable = client.list_consumer_groups(request_timeout=10, states={ConsumerGroupState.STABLE}).result()
        assert {g.group_id for g in stable.valid} & ours == {"adm-busy"}

        descriptions = {g: f.result(10) for g, f in client.describe_consumer_groups(["adm-busy", "adm-idle"]).items()}
        live = descriptions["adm-busy"]
        assert live.state == ConsumerGroupState.STABLE and not live.is_simple_consumer_group
        assert live.partition_assignor == "range"  # both members list range first (librdkafka's default "range,roundrobin")
        assert live.coordinator.port == broker.port
        assert sorted(m.client_id for m in live.members) == ["busy-0", "busy-1"]
        member_partitions = {}
        for member in live.members:
            partitions = {(tp.topic, tp.partition) for tp in member.assignment.topic_partitions}
            member_partitions[member.member_id] = partitions
            consumer = busy[int(member.client_id.split("-")[1])]
            assert partitions == {("adm", p) for p in owned_partitions(consumer)}, member.client_id
        assert sorted(p for ps in member_partitions.values() for _, p in ps) == list(range(6))
        empty = descriptions["adm-idle"]
        assert empty.state == ConsumerGroupState.EMPTY and empty.members == []

        def offsets_of(group):
            found = client.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(10)
            assert all(tp.error is None for tp in found.topic_partitions), found.topic_partitions
            return {tp.partition: tp.offset for tp in found.topic_partitions if tp.topic == "adm"}

        assert offsets_of("adm-busy") == end
        assert offsets_of("adm-idle") == end
        assert offsets_of("adm-simple") == {p: 1 for p in range(6)}

        # kafka-python 3 names these list_groups, describe_groups and list_group_offsets; they must agree.
        kp_groups = {g["group_id"]: g for g in kp_admin.list_groups() if g["group_id"] in ours}
        assert set(kp_groups) == ours
        assert {g: kp_groups[g].get("group_state") for g in ours} == {
            "adm-busy": "Stable", "adm-idle": "Empty", "adm-simple": "Empty"}
        assert kp_groups["adm-busy"]["protocol_type"] == "consumer"
        kp_descriptions = kp_admin.describe_groups(["adm-busy", "adm-idle"])
        kp_live = kp_descriptions["adm-busy"]
        assert kp_live["error"] is None and kp_live["group_state"] == "Stable"
        assert kp_live["protocol_type"] == "consumer" and kp_live["protocol_data"] == "range"
        kp_members = {m["member_id"]: {(a["topic"], p) for a in m["member_assignment"]["assigned_partitions"]
                                       for p in a["partitions"]}
                      for m in kp_live["members"]}
        assert kp_members == member_partitions
        for m in kp_live["members"]:  # the member's subscription, as its JoinGroup sent it for the chosen protocol
            assert isinstance(m["member_metadata"], dict) and m["member_metadata"]["topics"] == ["adm"], m
        kp_empty = kp_descriptions["adm-idle"]
        assert kp_empty["error"] is None and kp_empty["group_state"] == "Empty" and kp_empty["members"] == []
        kp_offsets = kp_admin.list_group_offsets(["adm-busy", "adm-idle", "adm-simple"])
        for group, expected in [("adm-busy", end), ("adm-idle", end), ("adm-simple", {p: 1 for p in range(6)})]:
            assert {tp.partition: om.offset for tp, om in kp_offsets[group].items() if tp.topic == "adm"} == expected

        # DeleteGroups: a group with members is refused, an empty one goes, with its offsets.
        with pytest.raises(KafkaException) as non_empty:
            client.delete_consumer_groups(["adm-busy"])["adm-busy"].result(10)
        assert non_empty.value.args[0].code() == KafkaError.NON_EMPTY_GROUP
        deleted = client.delete_consumer_groups(["adm-idle", "adm-nosuch"])
        assert deleted["adm-idle"].result(10) is None
        with pytest.raises(KafkaException) as unknown:
            deleted["adm-nosuch"].result(10)
        assert unknown.value.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND
        assert kp_admin.delete_groups(["adm-simple", "adm-busy"]) == {"adm-simple": "OK", "adm-busy": "NonEmptyGroupError"}

        remaining = client.list_consumer_groups(request_timeout=10).result()
        assert {g.group_id for g in remaining.valid} & ours == {"adm-busy"}
        assert {g["group_id"] for g in kp_admin.list_groups()} & ours == {"adm-busy"}
        for group in ("adm-idle", "adm-simple"):
            # A deleted group has no offsets left: an empty answer, or GROUP_ID_NOT_FOUND.
            try:
                found = client.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(10)
            except KafkaException as e:
                assert e.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND, e
            else:
                assert [tp for tp in found.topic_partitions if tp.offset >= 0] == [], found.topic_partitions
        assert offsets_of("adm-busy") == end
    finally:
        for consumer in busy:
            consumer.close()
        kp_admin.close()


def test_kafka_python_group_commits_and_resumes(broker):
    create_topic(broker, "kpg", 3)
    produced = produce(broker, "kpg", 300)

    def kp_consumer():
        return KafkaConsumer("kpg", bootstrap_servers=broker.bootstrap, group_id="kp-group", enable_auto_commit=False,
                             auto_offset_reset="earliest", session_timeout_ms=6000, heartbeat_interval_ms=500)

    def read(consumer, expected):
        got, deadline = {}, time.time() + WAIT
        while not expected.keys() <= got.keys():
            assert time.time() < deadline, f"{len(got)} of {len(expected)} records"
            for records in consumer.poll(timeout_ms=200).values():
                for r in records:
                    assert (r.partition, r.offset) not in got, ("twice", r.partition, r.offset)
                    got[(r.partition, r.offset)] = r.value
        return got

    first = kp_consumer()
    try:
        assert read(first, produced) == produced
        first.commit()
        end = ends(produced)
        assert {p: first.committed(KPTopicPartition("kpg", p)) for p in end} == end
    finally:
        first.close()

    more = produce(broker, "kpg", 150, start=300)
    second = kp_consumer()
    try:
        got = read(second, more)
        # Nothing before the committed offsets comes back, and everything after them does.
        assert got == more
        for p, start in end.items():
            offsets = sorted(o for q, o in got if q == p)
            assert offsets == list(range(start, start + len(offsets))), (p, offsets[:5])
        second.commit()
    finally:
        second.close()

    # Offsets kafka-python committed are the ones librdkafka resumes from.
    produced.update(more)
    last = produce(broker, "kpg", 30, start=450)
    third = group_consumer(broker, "kp-group")
    try:
        assert committed(third, "kpg", 3) == ends(produced)
        third.subscribe(["kpg"])
        tracker = Tracker([third])
        tracker.wait_for(last)
        assert tracker.seen == last and not tracker.duplicates
    finally:
        third.close()


def test_kip848_consumer_protocol_splits_partitions_without_duplicates(workdir):
    """librdkafka's group.protocol=consumer (KIP-848): the broker assigns, a second member gets
    half the partitions once the first has given them up, and no message is processed twice."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
    from conftest import BrokerProcess

    broker = BrokerProcess(os.path.join(workdir, "data"),
                           extra_args=["--override", "group.consumer.heartbeat.interval.ms=500"]).start()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("k848", num_partitions=6, replication_factor=1)])["k848"].result(10)
    producer = Producer({"bootstrap.servers": broker.bootstrap})

    def produce(start):
        for i in range(start, start + 600):
            producer.produce("k848", key=b"k%d" % i, value=b"v%d" % i)
        producer.flush(10)

    def member():
        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "kip848", "group.protocol": "consumer",
                      "auto.offset.reset": "earliest", "enable.auto.commit": False})
        c.subscribe(["k848"])
        return c

    seen = {}

    def drain(consumers, want, seconds=20):
        deadline = time.time() + seconds
        while len(seen) < want and time.time() < deadline:
            for c in consumers:
                msg = c.poll(0.1)
                if msg is None or msg.error() is not None:
                    continue
                key = (msg.partition(), msg.offset())
                assert key not in seen, f"{key} processed twice"
                seen[key] = msg.value()
                c.commit(message=msg, asynchronous=False)

    produce(0)
    first = member()
    drain([first], 600)
    assert len(seen) == 600
    second = member()
    deadline = time.time() + 20
    while time.time() < deadline:
        first.poll(0.1)
        second.poll(0.1)
        owned = [sorted(tp.partition for tp in c.assignment()) for c in (first, second)]
        if all(owned) and sorted(owned[0] + owned[1]) == list(range(6)):
            break
    assert all(owned) and sorted(owned[0] + owned[1]) == list(range(6)), owned
    produce(600)
    drain([first, second], 1200)
    assert sorted(seen.values()) == sorted(b"v%d" % i for i in range(1200))
    committed = first.committed([TopicPartition("k848", p) for p in range(6)], timeout=10)
    high = [first.get_watermark_offsets(TopicPartition("k848", p), timeout=5)[1] for p in range(6)]
    assert [tp.offset for tp in committed] == high
    first.close()
    second.close()
    assert broker.stop() == 0
