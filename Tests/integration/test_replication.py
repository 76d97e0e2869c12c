"""ISR replication under faults (issue 13): etcd and three real broker processes on loopback, a
topic with replication factor 3 and min.insync.replicas=2, and a confluent-kafka idempotent
producer with acks=all writing a numbered stream per key while brokers are SIGKILLed, paused
and restarted. After each scenario every acknowledged record is counted: present exactly once,
at the offset it was acknowledged at, in order per key; and the replicas' logs are compared
byte for byte."""
import glob
import os
import signal
import threading
import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import kafka_wire
from cluster import Cluster

LEASE_MS = 1000
LAG_MS = 2000
NOT_LEADER_OR_FOLLOWER = 6
NOT_ENOUGH_REPLICAS = 19
NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20
FENCED_LEADER_EPOCH = 74
OFFSET_NOT_AVAILABLE = 78
UNKNOWN_LEADER_EPOCH = 75
TOPIC = "ledger"
PARTITIONS = 3


@pytest.fixture
def cluster(workdir, etcd):
    c = Cluster(workdir, etcd, count=3, lease_ms=LEASE_MS, extra_args=[
        "--override", f"replica.lag.time.max.ms={LAG_MS}", "--override", "replica.fetch.backoff.ms=200"]).start()
    yield c
    c.stop()


def create_replicated(cluster, topic=TOPIC, partitions=PARTITIONS):
    client = AdminClient({"bootstrap.servers": cluster.bootstrap})
    new = NewTopic(topic, partitions, 3, config={"min.insync.replicas": "2"})
    client.create_topics([new])[topic].result(timeout=20)
    in_sync(cluster, topic, partitions)


def state(metadata, topic, partition):
    """(error, leader, replicas, isr) of one partition in a Metadata answer."""
    return metadata["topics"][topic][1][partition]


def in_sync(cluster, topic=TOPIC, partitions=PARTITIONS, via=None, timeout=30):
    """Waits until every partition has a leader and all three replicas in its ISR."""
    return cluster.wait_until(
        lambda m: topic in m["topics"] and len(m["topics"][topic][1]) == partitions
        and all(state(m, topic, p)[1] > 0 and sorted(state(m, topic, p)[3]) == [1, 2, 3] for p in range(partitions)),
        topics=[topic], via=via, timeout=timeout)


def leader_of(cluster, partition=0, topic=TOPIC):
    return state(cluster.metadata(topics=[topic]), topic, partition)[1]


class KeyedLoad:
    """An idempotent acks=all producer writing `key:seq` for keys k0..k7 with seq rising per
    key, from a thread, until stopped. Records every acknowledgement (key, seq, partition,
    offset) and counts errors by code."""

    KEYS = 8

    def __init__(self, bootstrap, topic=TOPIC):
        self.producer = Producer({
            "bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 2,
            "message.timeout.ms": 60_000, "topic.metadata.refresh.interval.ms": 500,
            # A request stuck at a paused broker holds up the idempotent producer's partition
            # until it times out (30 s by default), and librdkafka keeps asking a paused broker
            # for metadata until socket.timeout.ms (60 s by default).
            "request.timeout.ms": 5000, "socket.timeout.ms": 5000})
        self.topic = topic
        self.acked = []
        # (when produced, when acknowledged) per acknowledgement, monotonic seconds.
        self.ack_times = []
        self.errors = {}
        self.sent = 0
        self.running = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _report(self, produced_at, error, message):
        if error:
            self.errors[error.code()] = self.errors.get(error.code(), 0) + 1
        else:
            self.ack_times.append((produced_at, time.monotonic()))
            key = message.key().decode()
            seq = int(message.value().decode().split(":")[1])
            self.acked.append((key, seq, message.partition(), message.offset()))

    def _run(self):
        seqs = [0] * self.KEYS
        while self.running:
            key = self.sent % self.KEYS
            value = f"k{key}:{seqs[key]}"
            try:
                produced_at = time.monotonic()
                self.producer.produce(self.topic, key=f"k{key}".encode(), value=value.encode(),
                                      on_delivery=lambda error, message, at=produced_at: self._report(at, error, message))
            except BufferError:
                self.producer.poll(0.05)
                continue
            seqs[key] += 1
            self.sent += 1
            self.producer.poll(0)
            time.sleep(0.002)

    def start(self):
        self.running = True
        self.thread.start()
        return self

    def wait_for_more(self, count, timeout=30):
        """Waits until `count` more acknowledgements arrived (the load makes progress)."""
        target = len(self.acked) + count
        deadline = time.monotonic() + timeout
        while len(self.acked) < target:
            assert time.monotonic() < deadline, f"no progress: {len(self.acked)} acknowledged, errors {self.errors}"
            time.sleep(0.05)

    def stop(self):
        self.running = False
        self.thread.join()
        assert self.producer.flush(60) == 0, "records left undelivered"
        return self


def read_everything(cluster, topic=TOPIC, partitions=PARTITIONS):
    """Every record of every partition up to its high watermark: {partition: [(offset, key, value)]}."""
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": f"audit-{time.monotonic_ns()}",
                         "enable.auto.commit": False})
    starts, ends = {}, {}
    for partition in range(partitions):
        deadline = time.monotonic() + 20
        while True:
            try:
                starts[partition], ends[partition] = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=5)
                break
            except Exception:
                assert time.monotonic() < deadline
                time.sleep(0.2)
    consumer.assign([TopicPartition(topic, p, starts[p]) for p in range(partitions)])
    records = {p: [] for p in range(partitions)}
    deadline = time.monotonic() + 60
    while any((records[p][-1][0] + 1 if records[p] else starts[p]) < ends[p] for p in range(partitions)):
        assert time.monotonic() < deadline, f"could not read up to {ends}"
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            key = message.key().decode() if message.key() is not None else ""
            records[message.partition()].append((message.offset(), key, message.value().decode()))
    consumer.close()
    return records


def audit(load, records):
    """Every acknowledged record is stored once, at the offset it was acknowledged at; per key
    the sequence numbers rise with the offsets; nothing appears twice."""
    at = {(p, offset): (key, value) for p, rows in records.items() for offset, key, value in rows}
    for key, seq, partition, offset in load.acked:
        assert at.get((partition, offset)) == (key, f"{key}:{seq}"), \
            f"acknowledged {key}:{seq} at {partition}/{offset}, found {at.get((partition, offset))}"
    seen = set()
    last = {}
    for partition, rows in records.items():
        for offset, key, value in rows:
            assert value not in seen, f"{value} stored twice"
            seen.add(value)
            seq = int(value.split(":")[1])
            assert seq > last.get(key, -1), f"{key}: {seq} after {last.get(key)} (out of order)"
            last[key] = seq
    assert len(seen) >= len(load.acked)


def assert_replicas_identical(cluster, workdir, topic=TOPIC, partitions=PARTITIONS):
    """The segment files of each partition are the same bytes on all three brokers (the
    cluster is stopped, every replica in sync)."""
    for partition in range(partitions):
        contents = {}
        for broker_id in cluster.brokers:
            files = sorted(glob.glob(os.path.join(workdir, f"broker-{broker_id}", "data", f"{topic}-{partition}", "*.log")))
            contents[broker_id] = b"".join(open(f, "rb").read() for f in files)
        sizes = {b: len(c) for b, c in contents.items()}
        assert len(set(contents.values())) == 1, f"{topic}-{partition}: replicas differ (sizes {sizes})"
        assert sizes[1] > 0


def settle_and_stop(cluster, partitions=PARTITIONS):
    """Waits until all replicas are in sync, then one more acks=all round through every
    partition (so every follower has everything), and stops the brokers cleanly."""
    in_sync(cluster, partitions=partitions)
    final = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for partition in range(partitions):
        final.produce(TOPIC, key=b"final", value=f"final:{partition}".encode(), partition=partition)
    assert final.flush(30) == 0
    codes = cluster.stop()
    assert all(code == 0 for code in codes.values()), codes


def test_acks_all_loses_nothing_when_the_leader_is_sigkilled_five_times(cluster, workdir):
    create_replicated(cluster)
    load = KeyedLoad(cluster.bootstrap).start()
    load.wait_for_more(100)
    for round in range(5):
        victim = leader_of(cluster, 0)
        survivor = next(b for i, b in cluster.brokers.items() if i != victim)
        cluster.brokers[victim].kill()
        cluster.wait_until(lambda m: state(m, TOPIC, 0)[1] not in (victim, -1), topics=[TOPIC], via=survivor)
        load.wait_for_more(50)
        cluster.brokers[victim].start()
        in_sync(cluster)
        load.wait_for_more(50)
    load.stop()
    print(f"{len(load.acked)} acknowledged, errors by code {load.errors}")
    audit(load, read_everything(cluster))
    settle_and_stop(cluster)
    assert_replicas_identical(cluster, workdir)


def test_a_paused_follower_leaves_the_isr_and_rejoins_after_it_wakes(cluster, workdir):
    create_replicated(cluster, partitions=1)
    leader = leader_of(cluster, 0)
    follower_id = next(i for i in cluster.brokers if i != leader)
    follower = cluster.brokers[follower_id]
    load = KeyedLoad(cluster.bootstrap).start()
    load.wait_for_more(50)
    os.kill(follower.process.pid, signal.SIGSTOP)
    try:
        cluster.wait_until(lambda m: follower_id not in state(m, TOPIC, 0)[3], topics=[TOPIC], via=cluster.brokers[leader])
        # Two in sync still meet min.insync.replicas: acks=all goes on.
        load.wait_for_more(100)
    finally:
        os.kill(follower.process.pid, signal.SIGCONT)
    in_sync(cluster, partitions=1)
    load.wait_for_more(50)
    load.stop()
    audit(load, read_everything(cluster, partitions=1))


def test_with_two_brokers_down_acks_all_is_refused_and_nothing_unreplicated_is_acknowledged(cluster, workdir):
    create_replicated(cluster, partitions=1)
    leader_id = leader_of(cluster, 0)
    leader = cluster.brokers[leader_id]
    load = KeyedLoad(cluster.bootstrap).start()
    load.wait_for_more(50)
    others = [i for i in cluster.brokers if i != leader_id]
    for broker_id in others:
        cluster.brokers[broker_id].kill()
    cluster.wait_until(lambda m: state(m, TOPIC, 0)[3] == [leader_id], topics=[TOPIC], via=leader)
    acked_alone = len(load.acked)
    # A produce now is refused before the append: one in-sync replica is fewer than two.
    conn = kafka_wire.Connection(leader)
    conn.send(kafka_wire.produce_request_v3(TOPIC, 0, kafka_wire.record_batch([b"alone"]), acks=-1))
    [(_, error, _)] = kafka_wire.parse_produce_response_v3(conn.receive())
    conn.close()
    assert error == NOT_ENOUGH_REPLICAS
    time.sleep(1)  # the load keeps trying meanwhile; none of it may be acknowledged
    assert len(load.acked) == acked_alone, "an acks=all record was acknowledged with one in-sync replica"
    for broker_id in others:
        cluster.brokers[broker_id].start()
    in_sync(cluster, partitions=1)
    load.wait_for_more(50)
    load.stop()
    audit(load, read_everything(cluster, partitions=1))
    assert "alone" not in [value for _, _, value in read_everything(cluster, partitions=1)[0]]


def test_a_paused_leader_that_wakes_up_acknowledges_nothing_and_follows_the_new_leader(cluster, workdir):
    create_replicated(cluster, partitions=1)
    old_id = leader_of(cluster, 0)
    old = cluster.brokers[old_id]
    load = KeyedLoad(cluster.bootstrap).start()
    load.wait_for_more(50)
    conn = kafka_wire.Connection(old, timeout=30)
    os.kill(old.process.pid, signal.SIGSTOP)
    try:
        survivor = next(b for i, b in cluster.brokers.items() if i != old_id)
        cluster.wait_until(lambda m: state(m, TOPIC, 0)[1] not in (old_id, -1), topics=[TOPIC], via=survivor)
        load.wait_for_more(50)
        # Produces reach the paused broker (the kernel queues them); then it wakes up.
        conn.send(kafka_wire.produce_request_v3(TOPIC, 0, kafka_wire.record_batch([b"zombie-1"]), acks=1, correlation_id=7))
        conn.send(kafka_wire.produce_request_v3(TOPIC, 0, kafka_wire.record_batch([b"zombie-all"]), acks=-1, correlation_id=8))
    finally:
        os.kill(old.process.pid, signal.SIGCONT)
    for _ in range(2):
        answer = conn.receive()
        assert answer is not None, "the woken broker closed the connection instead of answering"
        [(_, error, _)] = kafka_wire.parse_produce_response_v3(answer)
        assert error in (NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS_AFTER_APPEND), f"a deposed leader acknowledged (error {error})"
    conn.close()
    in_sync(cluster, partitions=1)
    load.wait_for_more(50)
    load.stop()
    records = read_everything(cluster, partitions=1)
    audit(load, records)
    assert not [v for _, _, v in records[0] if v.startswith("zombie")]
    settle_and_stop(cluster, partitions=1)
    assert_replicas_identical(cluster, workdir, partitions=1)


def test_a_rolling_restart_with_sigterm_hands_leadership_over_and_fails_no_delivery(cluster, workdir):
    create_replicated(cluster)
    load = KeyedLoad(cluster.bootstrap).start()
    load.wait_for_more(100)
    for broker_id, broker in cluster.brokers.items():
        led = [p for p in range(PARTITIONS) if leader_of(cluster, p) == broker_id]
        assert broker.stop() == 0
        if led:
            # Controlled shutdown: its partitions went to other in-sync replicas before it left.
            assert f"controlled shutdown: handed {len(led)} partitions" in broker.read_log()
        load.wait_for_more(50)
        broker.start()
        in_sync(cluster)
        load.wait_for_more(50)
    load.stop()
    # Only retriable errors happened, and the producer retried them all.
    assert not load.errors, load.errors
    audit(load, read_everything(cluster))


def test_sigkill_of_the_controller_under_load_loses_nothing(cluster, workdir):
    create_replicated(cluster)
    load = KeyedLoad(cluster.bootstrap).start()
    load.wait_for_more(100)
    old = cluster.metadata()["controller"]
    survivor = next(b for i, b in cluster.brokers.items() if i != old)
    cluster.brokers[old].kill()
    cluster.wait_until(lambda m: m["controller"] not in (old, -1)
                       and all(state(m, TOPIC, p)[1] not in (old, -1) for p in range(PARTITIONS)), topics=[TOPIC], via=survivor)
    load.wait_for_more(100)
    cluster.brokers[old].start()
    in_sync(cluster)
    load.wait_for_more(50)
    load.stop()
    audit(load, read_everything(cluster))
    settle_and_stop(cluster)
    assert_replicas_identical(cluster, workdir)


def test_etcd_down_fences_every_leader_and_nothing_acknowledged_is_lost(cluster, etcd, workdir):
    create_replicated(cluster)
    load = KeyedLoad(cluster.bootstrap).start()
    load.wait_for_more(100)
    etcd.stop()
    # Within a lease every leader stops acknowledging (it cannot know it still leads).
    time.sleep(2 * LEASE_MS / 1000)
    stalled = len(load.acked)
    time.sleep(1)
    assert len(load.acked) == stalled, "a broker acknowledged with etcd down past its lease"
    etcd.start()
    in_sync(cluster, timeout=60)
    load.wait_for_more(100)
    load.stop()
    audit(load, read_everything(cluster))
    settle_and_stop(cluster)
    assert_replicas_identical(cluster, workdir)


def test_a_group_consumes_through_a_sigkill_of_its_coordinator_and_rereads_only_after_its_last_commit(cluster, workdir):
    create_replicated(cluster)
    load = KeyedLoad(cluster.bootstrap).start()
    load.wait_for_more(200)
    group = "auditors"
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    consumer.subscribe([TOPIC])
    consumed = []          # (partition, offset) in the order processed
    committed = {}         # partition -> the last offset committed successfully
    committed_at_kill = None

    def consume_for(seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            consumed.append((message.partition(), message.offset()))
            if len(consumed) % 50 == 0:
                try:
                    for tp in consumer.commit(asynchronous=False):
                        if tp.error is None and tp.offset >= 0:
                            committed[tp.partition] = tp.offset
                except Exception:
                    pass  # the coordinator is moving: the next commit tries again

    consume_for(5)
    conn = kafka_wire.Connection(cluster.brokers[1])
    error, coordinator_id, _, _ = kafka_wire.find_coordinator_v0(conn, group)
    conn.close()
    assert error == 0
    committed_at_kill = dict(committed)
    cluster.brokers[coordinator_id].kill()
    consume_for(8)
    cluster.brokers[coordinator_id].start()
    in_sync(cluster)
    load.stop()
    # Read on until everything acknowledged has been processed.
    wanted = {(p, o) for _, _, p, o in load.acked}
    deadline = time.monotonic() + 60
    while not wanted <= set(consumed):
        assert time.monotonic() < deadline, f"{len(wanted - set(consumed))} acknowledged records never consumed"
        consume_for(1)
    consumer.close()
    seen = set()
    for partition, offset in consumed:
        if (partition, offset) in seen:
            # Read twice only past what the group had committed before the coordinator died.
            assert offset >= committed_at_kill.get(partition, 0), f"{partition}/{offset} consumed again below the last commit"
        seen.add((partition, offset))


def leave_a_follower_behind(cluster):
    """20 records everywhere, then a follower SIGKILLed and out of the ISR, then 30 more that it
    lacks. Returns (leader id, stopped follower id, the acks=all producer)."""
    create_replicated(cluster, partitions=1)
    leader_id = leader_of(cluster, 0)
    follower_id = next(i for i in cluster.brokers if i != leader_id)
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for i in range(20):
        producer.produce(TOPIC, value=f"early-{i}".encode(), partition=0)
    assert producer.flush(30) == 0
    cluster.brokers[follower_id].kill()
    cluster.wait_until(lambda m: follower_id not in state(m, TOPIC, 0)[3], topics=[TOPIC], via=cluster.brokers[leader_id])
    for i in range(30):
        producer.produce(TOPIC, value=f"late-{i}".encode(), partition=0)
    assert producer.flush(30) == 0
    return leader_id, follower_id, producer


def test_a_follower_behind_the_leaders_log_start_starts_again_there(cluster, workdir):
    leader_id, follower_id, _ = leave_a_follower_behind(cluster)
    # The log now starts past everything the stopped follower has.
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    [result] = admin.delete_records([TopicPartition(TOPIC, 0, 40)]).values()
    assert result.result(timeout=20).low_watermark == 40
    cluster.brokers[follower_id].start()
    in_sync(cluster, partitions=1)
    assert "the leader's log starts at 40" in cluster.brokers[follower_id].read_log()
    assert [v for _, _, v in read_everything(cluster, partitions=1)[0]] == [f"late-{i}" for i in range(20, 30)]


def test_a_follower_refuses_a_corrupt_batch_from_its_leader_and_stores_nothing_wrong(cluster, workdir):
    leader_id, follower_id, producer = leave_a_follower_behind(cluster)
    other_id = next(i for i in cluster.brokers if i not in (leader_id, follower_id))

    def segment(broker_id):
        [path] = glob.glob(os.path.join(workdir, f"broker-{broker_id}", "data", f"{TOPIC}-0", "*.log"))
        return path
    # Damage the last record the leader holds (in its page cache, as a bad disk would show it).
    with open(segment(leader_id), "r+b") as f:
        f.seek(-1, os.SEEK_END)
        damaged_at = f.tell()
        byte = f.read(1)
        f.seek(damaged_at)
        f.write(bytes([byte[0] ^ 0xFF]))
    cluster.brokers[follower_id].start()
    follower = cluster.brokers[follower_id]
    deadline = time.monotonic() + 20
    while f"the batches leader {leader_id} sent from offset 20 were refused, nothing stored" not in follower.read_log():
        assert time.monotonic() < deadline, "the follower did not report the corrupt batch"
        time.sleep(0.2)
    assert "crcMismatch" in follower.read_log()
    time.sleep(1)  # more fetches of the same batch: still refused
    leader_bytes = open(segment(leader_id), "rb").read()
    follower_bytes = open(segment(follower_id), "rb").read()
    # What the follower stored is the leader's log up to a batch before the damage, never the damage.
    assert len(follower_bytes) <= damaged_at and leader_bytes[:len(follower_bytes)] == follower_bytes
    metadata = cluster.metadata(topics=[TOPIC], via=cluster.brokers[leader_id])
    assert follower_id not in state(metadata, TOPIC, 0)[3]
    # The two healthy replicas go on acknowledging acks=all writes.
    producer.produce(TOPIC, value=b"after", partition=0)
    assert producer.flush(30) == 0
    assert other_id in state(cluster.metadata(topics=[TOPIC], via=cluster.brokers[leader_id]), TOPIC, 0)[3]


def test_list_offsets_checks_the_clients_leader_epoch(cluster, workdir):
    # KIP-320: a client that names an older leader epoch than the leader's is fenced; one that
    # names a newer epoch is told the leader does not know it yet; -1 skips the check.
    create_replicated(cluster, partitions=1)
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for i in range(5):
        producer.produce(TOPIC, value=f"r{i}".encode(), partition=0)
    assert producer.flush(30) == 0
    first = leader_of(cluster, 0)

    def ask(broker_id, epoch):
        conn = kafka_wire.Connection(cluster.brokers[broker_id])
        try:
            return kafka_wire.list_offsets_v4(conn, TOPIC, 0, -1, epoch)
        finally:
            conn.close()

    assert ask(first, 0) == (0, 5, 0)
    assert ask(first, -1) == (0, 5, 0)
    assert ask(first, 1)[0] == UNKNOWN_LEADER_EPOCH
    cluster.brokers[first].kill()
    survivor = next(i for i in cluster.brokers if i != first)
    moved = cluster.wait_until(lambda m: state(m, TOPIC, 0)[1] not in (first, -1), topics=[TOPIC], via=cluster.brokers[survivor])
    second = state(moved, TOPIC, 0)[1]
    cluster.wait_until(lambda m: ask(second, 1)[0] == 0, via=cluster.brokers[second])
    assert ask(second, 1) == (0, 5, 1)
    assert ask(second, 0)[0] == FENCED_LEADER_EPOCH
    cluster.brokers[first].start()


def test_a_new_leader_answers_offset_not_available_until_its_high_watermark_reaches_its_epoch_start(cluster, workdir):
    # min.insync.replicas=3: with one replica paused the high watermark cannot move (KIP-966),
    # so the new leader's stays below the records it already has.
    client = AdminClient({"bootstrap.servers": cluster.bootstrap})
    client.create_topics([NewTopic("gate", 1, 3, config={"min.insync.replicas": "3"})])["gate"].result(timeout=20)
    in_sync(cluster, "gate", 1)
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for i in range(5):
        producer.produce("gate", value=f"r{i}".encode(), partition=0)
    assert producer.flush(30) == 0
    first = leader_of(cluster, 0, "gate")
    paused, second = [i for i in cluster.brokers if i != first]

    def latest(broker_id, timestamp=-1):
        conn = kafka_wire.Connection(cluster.brokers[broker_id])
        try:
            return kafka_wire.list_offsets(conn, "gate", 0, timestamp)
        finally:
            conn.close()

    def log_size(broker_id):
        return sum(os.path.getsize(f) for f in glob.glob(os.path.join(workdir, f"broker-{broker_id}", "data", "gate-0", "*.log")))

    os.kill(cluster.brokers[paused].broker_pid(), signal.SIGSTOP)
    try:
        quick = Producer({"bootstrap.servers": cluster.bootstrap, "acks": 1})
        for i in range(5, 10):
            quick.produce("gate", value=f"r{i}".encode(), partition=0)
        assert quick.flush(30) == 0
        assert latest(first) == (0, 5)  # the paused replica holds the high watermark at 5
        cluster.wait_until(lambda m: paused not in state(m, "gate", 0)[3], topics=["gate"], via=cluster.brokers[first])
        deadline = time.monotonic() + 10
        while log_size(second) != log_size(first):
            assert time.monotonic() < deadline, "the other follower did not fetch the acks=1 records"
            time.sleep(0.1)
        cluster.brokers[first].kill()
        cluster.wait_until(lambda m: state(m, "gate", 0)[1] == second, topics=["gate"], via=cluster.brokers[second])
        cluster.wait_until(lambda m: latest(second)[0] != NOT_LEADER_OR_FOLLOWER, via=cluster.brokers[second])
        # It has offsets up to 10 but its high watermark is 5: "latest" is not available yet.
        assert latest(second) == (OFFSET_NOT_AVAILABLE, -1)
        assert latest(second, 0)[0] == OFFSET_NOT_AVAILABLE
        assert latest(second, -2) == (0, 0)
    finally:
        os.kill(cluster.brokers[paused].broker_pid(), signal.SIGCONT)
    cluster.brokers[first].start()
    in_sync(cluster, "gate", 1)
    # All three in sync again: the high watermark reaches 10 (on whichever broker leads now).
    cluster.wait_until(lambda m: state(m, "gate", 0)[1] > 0 and latest(state(m, "gate", 0)[1]) == (0, 10), topics=["gate"])
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "gate-check"})
    # Leadership may move once more (the preferred replica is back), and the next new leader
    # again answers OFFSET_NOT_AVAILABLE (retriable) until its high watermark catches up.
    deadline = time.monotonic() + 20
    while True:
        try:
            watermarks = consumer.get_watermark_offsets(TopicPartition("gate", 0), timeout=10)
            break
        except KafkaException as error:
            assert error.args[0].code() in (OFFSET_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER) and time.monotonic() < deadline, error
            time.sleep(0.2)
    assert watermarks == (0, 10)
    consumer.close()
