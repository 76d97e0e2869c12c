"""Brokers forming one cluster through etcd (real etcd, real broker processes), driven by
confluent-kafka, kafka-python and hand-written requests: controller election and failover,
replica placement, routing, partitions that go offline with their only in-sync replica and come
back with their data, coordinators that live with their `__consumer_offsets` partition, leases
that fence a paused leader, and brokers refused for a taken id or another cluster."""
import os
import signal
import struct
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka import ElectionType
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.structs import OffsetAndMetadata, TopicPartition as KTopicPartition

import kafka_wire
from cluster import Cluster

# 1 s leases keep the suite quick; RUNNEL_TEST_LEASE_MS=2000 measures with the default.
LEASE_MS = int(os.environ.get("RUNNEL_TEST_LEASE_MS", "1000"))
NOT_LEADER_OR_FOLLOWER = 6
LEADER_NOT_AVAILABLE = 5


@pytest.fixture
def cluster(workdir, etcd):
    c = Cluster(workdir, etcd, count=3, lease_ms=LEASE_MS).start()
    yield c
    codes = c.stop()
    assert all(code == 0 for code in codes.values()), f"brokers did not stop cleanly: {codes}"


def admin(broker):
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def create(broker, topic, partitions=None, replication=None, assignment=None):
    # confluent-kafka wants the partition count beside an assignment; librdkafka sends -1 for
    # both on the wire, as Kafka requires.
    new = (NewTopic(topic, num_partitions=len(assignment), replica_assignment=assignment) if assignment
           else NewTopic(topic, partitions, replication))
    client = admin(broker)  # kept alive until the answer is in
    client.create_topics([new])[topic].result(timeout=20)


def produce(bootstrap, topic, values, partition=None, key=None):
    """Produces with acks=all; returns the delivered (partition, offset) pairs, raising on any error."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    delivered, errors = [], []

    def report(error, message):
        (errors if error else delivered).append(error or (message.partition(), message.offset()))

    for value in values:
        kwargs = {"partition": partition} if partition is not None else {}
        producer.produce(topic, value=value, key=key(value) if key else None, on_delivery=report, **kwargs)
    assert producer.flush(30) == 0, "messages left undelivered"
    assert not errors, errors
    return delivered


def read_partition(bootstrap, topic, partition, expected):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{time.monotonic_ns()}", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, partition, 0)])
    values, deadline = [], time.monotonic() + 30
    while len(values) < expected and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            values.append(message.value())
    consumer.close()
    return values


def read_all(bootstrap, topic, partition):
    """Every record of the partition up to its high watermark (which says where "all" ends)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{time.monotonic_ns()}", "enable.auto.commit": False})
    deadline = time.monotonic() + 20
    while True:
        try:
            # A fresh client may not know the partition yet, or its leader may be moving.
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=5)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    consumer.close()
    return read_partition(bootstrap, topic, partition, high - low)


def test_three_brokers_agree_on_one_controller_and_list_each_other(cluster):
    answers = [cluster.metadata(via=broker) for broker in cluster.brokers.values()]
    controllers = {answer["controller"] for answer in answers}
    assert len(controllers) == 1 and controllers <= set(cluster.brokers)
    for answer in answers:
        assert answer["brokers"] == {i: ("127.0.0.1", b.port) for i, b in cluster.brokers.items()}
    # Two clients agree: librdkafka's DescribeCluster and kafka-python's.
    client = admin(cluster.brokers[3])
    described = client.describe_cluster().result(timeout=10)
    assert described.controller.id in controllers
    assert sorted(node.id for node in described.nodes) == [1, 2, 3]
    other = KafkaAdminClient(bootstrap_servers=cluster.brokers[2].bootstrap)
    try:
        assert other.describe_cluster()["controller_id"] in controllers
    finally:
        other.close()


def test_a_replicated_topic_spreads_its_replicas_and_leaders(cluster):
    create(cluster.brokers[1], "spread", 6, 3)
    topic = cluster.wait_until(lambda m: "spread" in m["topics"] and m["topics"]["spread"][0] == 0, topics=["spread"])["topics"]["spread"]
    partitions = topic[1]
    assert sorted(partitions) == list(range(6))
    leaders = {}
    for index, (error, leader, replicas, isr) in partitions.items():
        assert error == 0
        assert sorted(replicas) == [1, 2, 3] and replicas[0] == leader
        # A new partition's replicas are all empty, hence all in sync (as Kafka creates them).
        assert sorted(isr) == [1, 2, 3]
        leaders[leader] = leaders.get(leader, 0) + 1
    assert leaders == {1: 2, 2: 2, 3: 2}
    # More replicas than brokers is refused as Kafka refuses it.
    with pytest.raises(Exception, match="INVALID_REPLICATION_FACTOR"):
        create(cluster.brokers[2], "too-many", 1, 4)


def test_clients_produce_and_consume_through_any_bootstrap_broker(cluster):
    create(cluster.brokers[2], "orders", 6, 1)
    values = [f"order-{i}".encode() for i in range(600)]
    delivered = produce(cluster.brokers[1].bootstrap, "orders", values, key=lambda v: str(int(v.split(b"-")[1]) % 17).encode())
    assert len(delivered) == 600
    # Partitions are led by all three brokers; a consumer bootstrapped from one reads them all.
    metadata = cluster.metadata(topics=["orders"])
    assert {p[1] for p in metadata["topics"]["orders"][1].values()} == {1, 2, 3}
    consumer = KafkaConsumer(
        "orders", bootstrap_servers=cluster.brokers[3].bootstrap, group_id="order-readers", auto_offset_reset="earliest",
        consumer_timeout_ms=15_000)
    seen = {}
    for message in consumer:
        seen.setdefault(message.key, []).append(int(message.value.split(b"-")[1]))
        if sum(len(v) for v in seen.values()) == 600:
            break
    consumer.close()
    assert sum(len(v) for v in seen.values()) == 600
    # Per-key order holds across the cluster.
    for key, numbers in seen.items():
        assert numbers == sorted(numbers), key


def test_sigkill_of_the_controller_elects_another_within_the_lease(cluster):
    old = cluster.metadata()["controller"]
    survivors = [b for i, b in cluster.brokers.items() if i != old]
    cluster.brokers[old].kill()
    started = time.monotonic()
    answer = cluster.wait_until(lambda m: m["controller"] not in (old, -1), via=survivors[0], timeout=15)
    elapsed = time.monotonic() - started
    print(f"controller {old} SIGKILLed; broker {answer['controller']} is controller after {elapsed:.2f} s (lease {LEASE_MS} ms)")
    assert old not in answer["brokers"]
    # The other survivor agrees, and the old controller rejoins as a plain broker.
    assert cluster.metadata(via=survivors[1])["controller"] == answer["controller"]
    cluster.brokers[old].start()
    back = cluster.wait_until(lambda m: old in m["brokers"], via=survivors[1])
    assert back["controller"] == answer["controller"]


def test_a_partition_goes_offline_with_its_only_in_sync_replica_and_comes_back_with_its_data(cluster):
    # One partition per broker, placed by hand (CreateTopics' replica assignment).
    create(cluster.brokers[1], "ledger", assignment=[[1], [2], [3]])
    for partition in range(3):
        produce(cluster.bootstrap, "ledger", [f"p{partition}-{i}".encode() for i in range(30)], partition=partition)
    before = cluster.metadata(topics=["ledger"])["topics"]["ledger"][1]
    cluster.brokers[2].kill()
    offline = cluster.wait_until(lambda m: m["topics"]["ledger"][1][1][1] == -1, topics=["ledger"], via=cluster.brokers[1])
    assert offline["topics"]["ledger"][1][1][0] == LEADER_NOT_AVAILABLE
    # No unclean election: nobody else holds partition 1's records. The others carry on.
    produce(cluster.brokers[1].bootstrap + "," + cluster.brokers[3].bootstrap, "ledger", [b"more-0"], partition=0)
    produce(cluster.brokers[1].bootstrap + "," + cluster.brokers[3].bootstrap, "ledger", [b"more-2"], partition=2)
    cluster.brokers[2].start()
    back = cluster.wait_until(lambda m: m["topics"]["ledger"][1][1][1] == 2, topics=["ledger"])
    assert back["topics"]["ledger"][1][1][2:] == ([2], [2])
    assert before[1][1] == 2
    assert read_partition(cluster.bootstrap, "ledger", 1, 30) == [f"p1-{i}".encode() for i in range(30)]
    assert read_partition(cluster.bootstrap, "ledger", 0, 31)[-1] == b"more-0"


def coordinator(cluster, group, via):
    conn = kafka_wire.Connection(via)
    try:
        return kafka_wire.find_coordinator_v0(conn, group)
    finally:
        conn.close()


def test_groups_move_with_their_offsets_partition_and_resume_from_their_commits(cluster):
    # Groups whose coordinators are different brokers.
    groups = {}
    for n in range(200):
        name = f"group-{n}"
        error, node, _, _ = coordinator(cluster, name, cluster.brokers[1])
        if error == 0:
            groups.setdefault(node, name)
        if len(groups) == 3:
            break
    assert sorted(groups) == [1, 2, 3], groups
    doomed, steady = 2, 3
    create(cluster.brokers[1], "work", assignment=[[1]])
    produce(cluster.bootstrap, "work", [f"job-{i}".encode() for i in range(30)], partition=0)

    def consumer(group):
        return KafkaConsumer(
            bootstrap_servers=cluster.brokers[1].bootstrap, group_id=group, enable_auto_commit=False,
            auto_offset_reset="earliest", consumer_timeout_ms=10_000)

    partition = KTopicPartition("work", 0)
    for group in (groups[doomed], groups[steady]):
        c = consumer(group)
        c.assign([partition])
        c.commit({partition: OffsetAndMetadata(10, "")})
        c.close()

    cluster.brokers[doomed].kill()
    killed = time.monotonic()
    # __consumer_offsets is replicated (factor 3): its partition gets a new leader from the
    # ISR, and the group's coordinator moves there with the committed offsets.
    def moved(_metadata):
        error, node, _, _ = coordinator(cluster, groups[doomed], cluster.brokers[1])
        return error == 0 and node != doomed

    cluster.wait_until(moved, via=cluster.brokers[1])
    c = consumer(groups[doomed])
    c.assign([partition])
    assert c.committed(partition) == 10
    assert next(iter(c)).offset == 10
    c.commit({partition: OffsetAndMetadata(11, "")})
    print(f"coordinator broker SIGKILLed: the group committed again on another broker {time.monotonic() - killed:.2f} s later")
    assert c.committed(partition) == 11
    c.close()
    # A group coordinated elsewhere carried on throughout.
    c = consumer(groups[steady])
    c.assign([partition])
    c.commit({partition: OffsetAndMetadata(20, "")})
    assert c.committed(partition) == 20
    c.close()
    # The killed broker comes back as a follower and the commits are still there.
    cluster.brokers[doomed].start()
    cluster.wait_until(lambda m: doomed in m["brokers"])
    c = consumer(groups[doomed])
    c.assign([partition])
    assert c.committed(partition) == 11
    c.close()


def test_a_paused_leader_that_wakes_up_acknowledges_nothing(cluster):
    create(cluster.brokers[1], "fenced", assignment=[[2]])
    produce(cluster.bootstrap, "fenced", [b"before"], partition=0)
    paused = cluster.brokers[2]
    conn = kafka_wire.Connection(paused, timeout=30)
    os.kill(paused.process.pid, signal.SIGSTOP)
    try:
        # The controller sees the lease expire and takes the leadership away.
        cluster.wait_until(lambda m: m["topics"]["fenced"][1][0][1] == -1, topics=["fenced"], via=cluster.brokers[1])
        # A produce reaches the paused broker (the kernel queues it); then it wakes up.
        conn.send(kafka_wire.produce_request_v3("fenced", 0, kafka_wire.record_batch([b"after-pause"]), acks=1))
    finally:
        os.kill(paused.process.pid, signal.SIGCONT)
    answer = conn.receive()
    conn.close()
    assert answer is not None, "the woken broker closed the connection instead of answering"
    [(partition, error, _)] = kafka_wire.parse_produce_response_v3(answer)
    assert error == NOT_LEADER_OR_FOLLOWER, f"a broker whose lease expired acknowledged a produce (error {error})"
    # It registers again, leads again, and its log holds only what was acknowledged.
    cluster.wait_until(lambda m: m["topics"]["fenced"][1][0][1] == 2, topics=["fenced"])
    assert read_all(cluster.bootstrap, "fenced", 0) == [b"before"]
    assert "no longer acknowledging as leader" in paused.read_log()


def test_a_second_process_with_a_live_brokers_id_is_refused(cluster, workdir):
    impostor = cluster.make_broker(workdir, 2, LEASE_MS, data_dir=os.path.join(workdir, "impostor", "data"))
    # It never serves: it registers before it listens, and exits when the id is taken.
    with pytest.raises(RuntimeError, match="broker id 2 is registered by another live broker"):
        impostor.start()
    # The real broker 2 is untouched.
    assert 2 in cluster.metadata(via=cluster.brokers[2])["brokers"]


def test_a_broker_is_refused_by_another_cluster_and_under_another_id(cluster, workdir, etcd):
    # Another cluster on the same etcd, under another prefix, founded by its own broker.
    other = BrokerInOtherCluster(cluster, workdir, etcd)
    other.founder.start()
    try:
        member = cluster.brokers[3]
        member.stop()
        moved = cluster.make_broker(workdir, 3, LEASE_MS, data_dir=member.data_dir)
        moved.extra_args[moved.extra_args.index("--metadata") + 1] = other.url
        with pytest.raises(RuntimeError, match="meta.properties"):
            moved.start()
        # Nor may it found a cluster where etcd holds none (a wiped etcd, a wrong prefix):
        # its logs would all be strays to delete.
        wiped = cluster.make_broker(workdir, 3, LEASE_MS, data_dir=member.data_dir)
        wiped.extra_args[wiped.extra_args.index("--metadata") + 1] = etcd.metadata_url + "/never-founded"
        with pytest.raises(RuntimeError, match="refusing to found an empty cluster"):
            wiped.start()
        # Nor may its directory come back under another broker's id.
        renamed = cluster.make_broker(workdir, 5, LEASE_MS, data_dir=member.data_dir)
        with pytest.raises(RuntimeError, match="meta.properties"):
            renamed.start()
        member.start()
        # Its data survived every refusal.
        create(cluster.brokers[1], "kept", assignment=[[3]])
        produce(cluster.bootstrap, "kept", [b"still-here"], partition=0)
        member.stop()
        member.start()
        # Broker 3's own view says it leads again (another broker's view may still be the one
        # from before the stop).
        cluster.wait_until(lambda m: m["topics"]["kept"][1][0][1] == 3, topics=["kept"], via=member)
        assert read_all(cluster.bootstrap, "kept", 0) == [b"still-here"]
    finally:
        other.founder.stop()


class BrokerInOtherCluster:
    def __init__(self, cluster, workdir, etcd):
        self.url = etcd.metadata_url + "/other-cluster"
        self.founder = cluster.make_broker(workdir, 7, LEASE_MS, data_dir=os.path.join(workdir, "other", "data"))
        self.founder.extra_args[self.founder.extra_args.index("--metadata") + 1] = self.url


def produce_raw(broker, topic, partition, value, correlation_id):
    """One acks=1 produce on a fresh connection: the error code, or None if no answer came."""
    try:
        conn = kafka_wire.Connection(broker, timeout=10)
    except OSError:
        return None
    try:
        conn.send(kafka_wire.produce_request_v3(topic, partition, kafka_wire.record_batch([value]), acks=1,
                                                correlation_id=correlation_id))
        answer = conn.receive()
        return None if answer is None else kafka_wire.parse_produce_response_v3(answer)[0][1]
    finally:
        conn.close()


def visible_everywhere(cluster, topic):
    """Waits until every broker has applied the topic (CreateTopics answers once the broker
    that took it has; the others follow through their watches)."""
    for broker in cluster.brokers.values():
        cluster.wait_until(lambda m: topic in m["topics"] and m["topics"][topic][0] == 0, via=broker, topics=[topic])


def test_brokers_that_lose_etcd_stop_acknowledging_and_lose_nothing_acknowledged(cluster, etcd):
    create(cluster.brokers[1], "steady", assignment=[[1], [2], [3]])
    visible_everywhere(cluster, "steady")
    acknowledged = {p: [] for p in range(3)}
    sent = 0

    def produce_round():
        nonlocal sent
        codes = {}
        for partition, broker_id in ((0, 1), (1, 2), (2, 3)):
            value = f"r{sent}-p{partition}".encode()
            codes[partition] = produce_raw(cluster.brokers[broker_id], "steady", partition, value, sent % 30000 + 1)
            if codes[partition] == 0:
                acknowledged[partition].append(value)
        sent += 1
        return codes

    assert set(produce_round().values()) == {0}
    # A committed group offset, to find again after the outage.
    committer = KafkaConsumer(bootstrap_servers=cluster.brokers[1].bootstrap, group_id="outlasting", enable_auto_commit=False)
    committer.assign([KTopicPartition("steady", 0)])
    committer.commit({KTopicPartition("steady", 0): OffsetAndMetadata(1, "")})
    committer.close()
    etcd.stop()
    # Within the lease every leader may still acknowledge; after it, none may.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        codes = produce_round()
        if set(codes.values()) == {NOT_LEADER_OR_FOLLOWER}:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"brokers still acknowledged without etcd: {codes}")
    # Still refusing a moment later (not a blip).
    time.sleep(LEASE_MS / 1000)
    assert set(produce_round().values()) == {NOT_LEADER_OR_FOLLOWER}
    etcd.start()
    # They register again, are elected again, and acknowledge again.
    cluster.wait_until(lambda m: len(m["brokers"]) == 3 and all(p[1] >= 0 for p in m["topics"]["steady"][1].values()),
                       topics=["steady"], timeout=30)
    deadline = time.monotonic() + 15
    while set(produce_round().values()) != {0}:
        assert time.monotonic() < deadline, "brokers did not acknowledge again after etcd came back"
        time.sleep(0.05)
    # Every acknowledged record is there, in order, and nothing else; so is the group's commit.
    for partition, values in acknowledged.items():
        assert read_all(cluster.bootstrap, "steady", partition) == values
    reader = KafkaConsumer(bootstrap_servers=cluster.brokers[2].bootstrap, group_id="outlasting", enable_auto_commit=False)
    try:
        assert reader.committed(KTopicPartition("steady", 0)) == 1
    finally:
        reader.close()


def test_runnel_cluster_starts_reports_and_stops_a_local_cluster(workdir):
    import subprocess
    from conftest import RUNNEL
    directory = os.path.join(workdir, "local")
    started = subprocess.run([RUNNEL, "cluster", "start", "--brokers", "2", "--dir", directory],
                             capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stderr
    bootstrap = started.stdout.strip()
    assert len(bootstrap.split(",")) == 2
    try:
        deadline = time.monotonic() + 20
        while True:
            status = subprocess.run([RUNNEL, "cluster", "status", "--bootstrap-server", bootstrap],
                                    capture_output=True, text=True, timeout=30)
            if "2 brokers, controller " in status.stdout and "controller -1" not in status.stdout:
                break
            assert time.monotonic() < deadline, status.stdout + status.stderr
            time.sleep(0.1)
        assert "Offline: 0" in status.stdout
        produce(bootstrap, "local-events", [b"one", b"two"], partition=0)
        assert read_partition(bootstrap, "local-events", 0, 2) == [b"one", b"two"]
    finally:
        stopped = subprocess.run([RUNNEL, "cluster", "stop", "--dir", directory], capture_output=True, text=True, timeout=90)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stderr
    import json
    with open(os.path.join(directory, "cluster.json")) as f:
        assert json.load(f)["brokerPids"] == {}
    for log in ("broker-1.log", "broker-2.log"):
        with open(os.path.join(directory, log)) as f:
            assert "stopped cleanly" in f.read()


def elect(broker, election_type, partition):
    """One partition's ElectLeaders result: None, or the error's text."""
    client = admin(broker)
    results = client.elect_leaders(election_type, [partition]).result(timeout=20)
    [(_, error)] = results.items()
    return None if error is None else str(error)


def test_elect_leaders_preferred_and_unclean(cluster, workdir):
    create(cluster.brokers[1], "chosen", assignment=[[2, 1]])
    produce(cluster.bootstrap, "chosen", [b"on-both"], partition=0)
    partition = TopicPartition("chosen", 0)
    # The preferred replica leads already.
    assert "ELECTION_NOT_NEEDED" in elect(cluster.brokers[1], ElectionType.PREFERRED, partition)
    # Broker 1 goes away and leaves the ISR; broker 2 takes a record alone, then dies too.
    cluster.brokers[1].kill()
    cluster.wait_until(lambda m: m["topics"]["chosen"][1][0][3] == [2], topics=["chosen"], via=cluster.brokers[3])
    produce(cluster.brokers[2].bootstrap, "chosen", [b"only-on-2"], partition=0)
    cluster.brokers[2].kill()
    cluster.wait_until(lambda m: m["topics"]["chosen"][1][0][1] == -1, topics=["chosen"], via=cluster.brokers[3])
    # Broker 1 returns, but it is not in the ISR: the partition stays offline.
    cluster.brokers[1].start()
    back = cluster.wait_until(lambda m: 1 in m["brokers"], topics=["chosen"], via=cluster.brokers[3])
    assert back["topics"]["chosen"][1][0][1:] == (-1, [2, 1], [2])
    assert "PREFERRED_LEADER_NOT_AVAILABLE" in elect(cluster.brokers[3], ElectionType.PREFERRED, partition)
    # Unclean, because the operator asks: broker 1 leads, without what only broker 2 had.
    assert elect(cluster.brokers[3], ElectionType.UNCLEAN, partition) is None
    answer = cluster.wait_until(lambda m: m["topics"]["chosen"][1][0][1] == 1, topics=["chosen"], via=cluster.brokers[1])
    assert answer["topics"]["chosen"][1][0][3] == [1]
    produce(cluster.brokers[1].bootstrap, "chosen", [b"after-unclean"], partition=0)
    assert read_all(cluster.brokers[1].bootstrap, "chosen", 0) == [b"on-both", b"after-unclean"]
    # Broker 2 comes back as a follower: it cuts the record the new leader never had and
    # catches up (so it rejoins the ISR); what is readable does not change.
    cluster.brokers[2].start()
    cluster.wait_until(lambda m: sorted(m["topics"]["chosen"][1][0][3]) == [1, 2], topics=["chosen"], via=cluster.brokers[1])
    assert read_all(cluster.brokers[1].bootstrap, "chosen", 0) == [b"on-both", b"after-unclean"]
    # Byte for byte, broker 2's log is now broker 1's.
    assert cluster.brokers[2].stop() == 0 and cluster.brokers[1].stop() == 0
    logs = [open(os.path.join(workdir, f"broker-{b}", "data", "chosen-0", "00000000000000000000.log"), "rb").read() for b in (1, 2)]
    assert logs[0] == logs[1] and b"after-unclean" in logs[1] and b"only-on-2" not in logs[1]


def test_brokers_racing_to_create_one_topic_leave_it_whole(cluster):
    import threading
    for round in range(5):
        name = f"race-{round}"
        outcomes = []

        def create_via(broker):
            client = admin(broker)
            try:
                client.create_topics([NewTopic(name, 6, 1)])[name].result(timeout=20)
                outcomes.append("created")
            except Exception as error:
                outcomes.append(str(error))

        threads = [threading.Thread(target=create_via, args=(b,)) for b in cluster.brokers.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert outcomes.count("created") == 1, outcomes
        assert all("TOPIC_ALREADY_EXISTS" in o for o in outcomes if o != "created"), outcomes
        # Every partition is hosted by its leader and takes records.
        cluster.wait_until(lambda m: name in m["topics"] and all(p[0] == 0 for p in m["topics"][name][1].values()), topics=[name])
        for partition in range(6):
            produce(cluster.bootstrap, name, [f"{name}-{partition}".encode()], partition=partition)
            assert read_all(cluster.bootstrap, name, partition) == [f"{name}-{partition}".encode()]


def test_offset_for_leader_epoch_answers_where_each_epoch_ended(cluster):
    def ask(broker, current, epoch):
        conn = kafka_wire.Connection(broker)
        try:
            return kafka_wire.offset_for_leader_epoch_v2(conn, "epochs", 0, current, epoch)
        finally:
            conn.close()

    create(cluster.brokers[1], "epochs", assignment=[[2]])
    produce(cluster.bootstrap, "epochs", [b"a", b"b", b"c"], partition=0)
    first = cluster.metadata(topics=["epochs"], via=cluster.brokers[2])
    assert first["topics"]["epochs"][1][0][1] == 2
    # The leader dies and returns: a new leader epoch, which starts at its log end (3).
    cluster.brokers[2].kill()
    cluster.wait_until(lambda m: m["topics"]["epochs"][1][0][1] == -1, topics=["epochs"], via=cluster.brokers[1])
    cluster.brokers[2].start()
    cluster.wait_until(lambda m: m["topics"]["epochs"][1][0][1] == 2, topics=["epochs"], via=cluster.brokers[2])
    produce(cluster.bootstrap, "epochs", [b"d", b"e"], partition=0)
    # The current leader epoch is what the leader's own metadata says (v1 Metadata carries no
    # epochs): find it by asking, as a client that refreshed would know it.
    current = next(e for e in range(0, 10) if ask(cluster.brokers[2], e, 0)[0] == 0)
    assert current >= 2
    assert ask(cluster.brokers[2], current, 0) == (0, 0, 3), "epoch 0 ended where the next began"
    assert ask(cluster.brokers[2], current, current) == (0, current, 5), "the latest epoch ends at the log end"
    assert ask(cluster.brokers[2], current, current + 1) == (0, -1, -1), "an epoch above the latest is unknown"
    assert ask(cluster.brokers[2], current - 1, 0)[0] == 74, "an older current epoch is fenced"
    assert ask(cluster.brokers[2], current + 1, 0)[0] == 75, "a newer current epoch is unknown here"
    assert ask(cluster.brokers[1], -1, 0)[0] == NOT_LEADER_OR_FOLLOWER
