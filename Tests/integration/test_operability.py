"""Operability: /metrics (read with prometheus_client's own parser), /healthz and /readyz,
the admin-change log lines, `--log-format json`, `--version`, and `runnel group describe`'s
lag in records and seconds, against real broker processes driven by confluent-kafka.

Every figure checked is one the clients' own actions determine: records produced, bytes the
partitions hold, offsets committed, records left unconsumed.
"""
import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from conftest import RUNNEL, BrokerProcess


def http_get(port, path):
    """(status, body) of GET http://127.0.0.1:port/path."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def scrape(broker):
    """Every sample of the broker's /metrics, parsed by prometheus_client: {(name, labels): value}."""
    status, text = http_get(broker.metrics_port, "/metrics")
    assert status == 200
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def scrape_until(broker, condition, timeout=20):
    """Scrapes until `condition(samples)` holds (the broker applies metadata asynchronously);
    fails the test after `timeout` with the last scrape's figures."""
    deadline = time.time() + timeout
    while True:
        samples = scrape(broker)
        if condition(samples) or time.time() > deadline:
            assert condition(samples), {k: v for k, v in samples.items() if "partitions" in k[0] or "isr" in k[0]}
            return samples
        time.sleep(0.1)


def wait_ready(broker, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline and http_get(broker.metrics_port, "/readyz")[0] != 200:
        time.sleep(0.1)
    status, body = http_get(broker.metrics_port, "/readyz")
    assert status == 200, body


def value(samples, name, **labels):
    return samples[(name, tuple(sorted((k, str(v)) for k, v in labels.items())))]


def total(samples, name, **labels):
    """The sum of every sample of `name` whose labels include `labels`."""
    wanted = {k: str(v) for k, v in labels.items()}
    return sum(v for (n, ls), v in samples.items() if n == name and wanted.items() <= dict(ls).items())


def create_topic(broker, name, partitions, config=None):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})])[name].result(30)
    return admin


def produce(broker, topic, count, size=100, client_id="metrics-producer"):
    producer = Producer({"bootstrap.servers": broker.bootstrap, "client.id": client_id, "linger.ms": 5,
                         "compression.type": "none", "enable.idempotence": True})
    for i in range(count):
        producer.produce(topic, key=str(i).encode(), value=bytes([i % 256]) * size, partition=i % 3)
    assert producer.flush(30) == 0


def consume_all(broker, topic, group, count):
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "client.id": "metrics-consumer"})
    consumer.subscribe([topic])
    seen = 0
    deadline = time.time() + 60
    while seen < count and time.time() < deadline:
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            seen += 1
    assert seen == count
    consumer.commit(asynchronous=False)
    return consumer


def test_metrics_after_a_produce_consume_group_workload(workdir):
    broker = BrokerProcess(os.path.join(workdir, "data")).start()
    try:
        create_topic(broker, "metered", 3, {"flush.messages": "1"})
        produce(broker, "metered", 300)
        consumer = consume_all(broker, "metered", "metered-group", 300)
        samples = scrape(broker)

        # What the producer sent: 300 records, in batches whose bytes are what the logs hold.
        assert value(samples, "runnel_topic_messages_in_total", topic="metered") == 300
        log_bytes = total(samples, "runnel_log_size_bytes", topic="metered")
        assert log_bytes > 300 * 100
        assert value(samples, "runnel_topic_bytes_in_total", topic="metered") == log_bytes
        assert total(samples, "runnel_log_end_offset", topic="metered") == 300
        assert total(samples, "runnel_log_high_watermark", topic="metered") == 300
        assert total(samples, "runnel_log_start_offset", topic="metered") == 0
        assert total(samples, "runnel_log_segments", topic="metered") == 3
        # The consumer read every byte at least once.
        assert value(samples, "runnel_topic_bytes_out_total", topic="metered") >= log_bytes
        # Requests by API and version, their errors by code, and where their time went.
        assert total(samples, "runnel_requests_total", request="Produce") >= 1
        assert total(samples, "runnel_requests_total", request="Fetch") >= 1
        assert value(samples, "runnel_request_errors_total", request="Produce", error="NONE") >= 3
        assert total(samples, "runnel_request_errors_total", request="Produce") == value(
            samples, "runnel_request_errors_total", request="Produce", error="NONE")
        produces = total(samples, "runnel_requests_total", request="Produce")
        for phase in ("request_queue_time", "request_local_time", "request_total_time", "response_send_time"):
            assert value(samples, f"runnel_{phase}_seconds_count", request="Produce") == produces, phase
        # flush.messages=1: every partition's appends were fsynced (group commit may share one
        # fsync between produces, so at least one per partition).
        assert value(samples, "runnel_log_flush_seconds_count") >= 3
        # The group: committed everything, so no lag; one rebalance completed; a consumer connected.
        assert total(samples, "runnel_group_lag_records", group="metered-group") == 0
        assert value(samples, "runnel_group_rebalances_total") >= 1
        assert value(samples, "runnel_groups", state="Stable") == 1
        assert value(samples, "runnel_connections") >= 2
        assert value(samples, "runnel_leader_partitions") == value(samples, "runnel_partitions")
        assert value(samples, "runnel_under_replicated_partitions") == 0
        assert value(samples, "runnel_offline_partitions") == 0

        # 30 more records the group does not consume: lag 30 in records, and in seconds the
        # age of the oldest of them (produced more than a second before the scrape).
        produce(broker, "metered", 30)
        time.sleep(1.2)
        samples = scrape(broker)
        assert total(samples, "runnel_group_lag_records", group="metered-group") == 30
        for partition in range(3):
            assert value(samples, "runnel_group_lag_records", group="metered-group", topic="metered", partition=partition) == 10
            age = value(samples, "runnel_group_lag_seconds", group="metered-group", topic="metered", partition=partition)
            assert 1.0 <= age < 120
        consumer.close()

        # A deleted topic's series go.
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        admin.delete_topics(["metered"])["metered"].result(30)
        deadline = time.time() + 10
        while time.time() < deadline and any(ls and ("topic", "metered") in ls for (_, ls) in scrape(broker)):
            time.sleep(0.2)
        assert not any(("topic", "metered") in ls for (_, ls) in scrape(broker))
    finally:
        broker.stop()


def test_request_errors_are_counted_by_code(workdir):
    broker = BrokerProcess(os.path.join(workdir, "data"), extra_args=["--override", "auto.create.topics.enable=false"]).start()
    try:
        create_topic(broker, "known", 1)
        # The client lets a 2 MB record through; the broker (message.max.bytes 1 MiB) refuses it.
        producer = Producer({"bootstrap.servers": broker.bootstrap, "message.max.bytes": 3_000_000, "message.timeout.ms": 5000,
                             "compression.type": "none"})
        failures = []
        producer.produce("known", value=b"x" * 2_000_000, on_delivery=lambda err, msg: failures.append(err))
        producer.flush(10)
        assert failures and failures[0] is not None and failures[0].code() == 10  # MSG_SIZE_TOO_LARGE
        # Metadata for a topic that does not exist (and is not created): UNKNOWN_TOPIC_OR_PARTITION.
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        metadata = admin.list_topics("nowhere", timeout=10)
        assert metadata.topics["nowhere"].error is not None
        samples = scrape(broker)
        assert value(samples, "runnel_request_errors_total", request="Produce", error="MESSAGE_TOO_LARGE") == 1
        assert value(samples, "runnel_request_errors_total", request="Metadata", error="UNKNOWN_TOPIC_OR_PARTITION") >= 1
    finally:
        broker.stop()


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (tools/setup installs it)")
def test_readyz_turns_ready_only_once_the_logs_are_loaded_and_the_listener_bound(workdir):
    data = os.path.join(workdir, "data")
    first = BrokerProcess(data).start()
    create_topic(first, "slow", 3)
    produce(first, "slow", 3)
    assert first.stop() == 0
    segment = os.path.join(data, "slow-0", "00000000000000000000.log")
    assert os.path.exists(segment)
    # Opening that segment at start-up takes 3 s: the HTTP listener is up before, the Kafka
    # listener only after.
    broker = BrokerProcess(
        data, port=first.port,
        wrapper=["strace", "-f", "-qq", "-o", "/dev/null", "-P", segment, "-e", "trace=openat", "-e", "inject=openat:delay_enter=3000000"])
    broker.log = open(broker.log_path, "ab")
    broker.process = subprocess.Popen(
        [*broker.wrapper, RUNNEL, "broker", "--data-dir", data, "--listen", broker.bootstrap, *broker.extra_args],
        stdout=broker.log, stderr=subprocess.STDOUT)
    try:
        statuses = []
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                status, body = http_get(broker.metrics_port, "/readyz")
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
                continue
            statuses.append((status, body))
            if status == 200:
                break
            time.sleep(0.05)
        assert statuses[0][0] == 503 and "not ready" in statuses[0][1]
        assert statuses[-1] == (200, "ready\n")
        assert http_get(broker.metrics_port, "/healthz") == (200, "ok\n")
        assert http_get(broker.metrics_port, "/nothing-here")[0] == 404
        # Ready means served: the records are there.
        consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "after-ready", "auto.offset.reset": "earliest"})
        consumer.subscribe(["slow"])
        got = []
        while len(got) < 3 and time.time() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                got.append(message.value())
        consumer.close()
        assert len(got) == 3
    finally:
        broker.stop()


def test_admin_changes_are_logged_with_the_client_that_made_them(workdir):
    broker = BrokerProcess(os.path.join(workdir, "data")).start()
    try:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap, "client.id": "ops-console"})
        admin.create_topics([NewTopic("audited", num_partitions=2, replication_factor=1, config={"retention.ms": "3600000"})])["audited"].result(30)
        admin.create_partitions([NewPartitions("audited", 3)])["audited"].result(30)
        resource = ConfigResource("topic", "audited", set_config={"retention.ms": "7200000"})
        for future in admin.alter_configs([resource]).values():
            future.result(30)
        produce(broker, "audited", 9)
        for future in admin.delete_records([TopicPartition("audited", 0, 2)]).values():
            future.result(30)
        consume_all(broker, "audited", "audited-group", 7).close()  # 2 of 9 deleted
        admin.delete_consumer_groups(["audited-group"])["audited-group"].result(30)
        admin.delete_topics(["audited"])["audited"].result(30)
        log = broker.read_log()
        for line in [
            "admin: created topic audited (2 partitions, replication factor 1, configs retention.ms=3600000) (client ops-console",
            "admin: topic audited now has 3 partitions (client ops-console",
            "admin: set the configs of topic audited to {retention.ms=7200000} (client ops-console",
            "admin: deleted group audited-group (client ops-console",
            "admin: deleted topic audited (client ops-console",
            "group audited-group rebalanced: generation 1, 1 members, protocol consumer/",
            "admin: deleted records of audited-0 before offset 2 (client ops-console",
        ]:
            assert line in log, line
    finally:
        broker.stop()


def test_json_log_format_version_and_ignored_kafka_settings(workdir):
    version = subprocess.run([RUNNEL, "--version"], capture_output=True, text=True, timeout=30)
    assert version.returncode == 0 and version.stdout.startswith("runnel ")
    broker = BrokerProcess(
        os.path.join(workdir, "data"),
        extra_args=["--log-format", "json", "--override", "num.network.threads=8", "--override", "num.partitions=2",
                    "--override", "log.retention.hour=1"]).start()
    try:
        create_topic(broker, "json-logged", 1)
    finally:
        broker.stop()
    lines = [json.loads(line) for line in broker.read_log().splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    # RFC 3339 in UTC, so shippers do not read it as local time.
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"]) for line in lines), lines[0]["time"]
    messages = [(line["level"], line["message"]) for line in lines]
    assert any(level == "info" and version.stdout.split()[1] in m and "num.partitions=2" in m for level, m in messages)
    assert any(level == "warning" and m.startswith("num.network.threads is a Kafka setting") for level, m in messages)
    assert any(level == "warning" and m.startswith("log.retention.hour is not a setting Runnel knows") for level, m in messages)
    assert any(level == "info" and m.startswith("admin: created topic json-logged") for level, m in messages)
    assert any(m == "stopped cleanly" for _, m in messages)


def test_group_describe_shows_lag_in_records_and_seconds(workdir):
    broker = BrokerProcess(os.path.join(workdir, "data")).start()
    try:
        create_topic(broker, "lagging", 3)
        produce(broker, "lagging", 30)
        consume_all(broker, "lagging", "lag-group", 30).close()
        produce(broker, "lagging", 6)
        time.sleep(1.2)
        run = lambda *args: subprocess.run([RUNNEL, "group", "describe", "--bootstrap-server", broker.bootstrap, *args],
                                           capture_output=True, text=True, timeout=60)
        described = run("--group", "lag-group")
        assert described.returncode == 0, described.stderr
        rows = [line.split() for line in described.stdout.splitlines()]
        assert rows[0][:7] == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "LAG-SECONDS"]
        by_partition = {int(row[2]): row for row in rows[1:]}
        assert sorted(by_partition) == [0, 1, 2]
        for row in by_partition.values():
            assert int(row[3]) == 10 and int(row[4]) == 12 and int(row[5]) == 2
            assert 1.0 <= float(row[6]) < 120
        state = run("--all-groups", "--state")
        assert state.returncode == 0, state.stderr
        assert state.stdout.splitlines()[0].split() == ["GROUP", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"]
        assert ["lag-group", "-", "Empty", "0"] in [line.split() for line in state.stdout.splitlines()]
    finally:
        broker.stop()


def test_trace_names_the_producing_client_and_the_groups_that_consumed_past_the_record(workdir):
    broker = BrokerProcess(os.path.join(workdir, "data")).start()
    try:
        create_topic(broker, "traced", 1)
        # Two producers with their own client.id, one after the other: offsets 0-9 and 10-19.
        for client_id in ("orders-service", "billing-service"):
            producer = Producer({"bootstrap.servers": broker.bootstrap, "client.id": client_id, "enable.idempotence": True})
            for i in range(10):
                producer.produce("traced", key=f"{client_id}-{i}".encode(), value=b"v", partition=0)
            assert producer.flush(30) == 0
        # Group "caught-up" consumed everything; group "behind" committed offset 5.
        consume_all(broker, "traced", "caught-up", 20).close()
        behind = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "behind", "enable.auto.commit": False})
        behind.commit(offsets=[TopicPartition("traced", 0, 5)], asynchronous=False)
        behind.close()

        def trace(*args):
            result = subprocess.run([RUNNEL, "trace", "--bootstrap-server", broker.bootstrap, "--topic", "traced", *args],
                                    capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stderr
            return result.stdout

        by_offset = trace("--partition", "0", "--offset", "13")
        assert "record traced-0 at offset 13" in by_offset
        assert "produced by: client.id 'billing-service' from 127.0.0.1:" in by_offset
        assert "producer id" in by_offset and "base sequence 0 (this record: 3)" in by_offset
        rows = {line.split()[0]: line.split() for line in by_offset.splitlines() if line.startswith("    ") and "GROUP" not in line}
        assert rows["caught-up"][1:3] == ["20", "yes"]
        assert rows["behind"][1:3] == ["5", "no"]

        by_key = trace("--key", "orders-service-7")
        assert "record traced-0 at offset 7" in by_key and "client.id 'orders-service'" in by_key

        # Across a restart the sidecar is read back from disk.
        assert broker.stop() == 0
        broker.start()
        assert "client.id 'orders-service'" in trace("--partition", "0", "--offset", "2")
        missing = subprocess.run([RUNNEL, "trace", "--bootstrap-server", broker.bootstrap, "--topic", "traced", "--partition", "0",
                                  "--offset", "99"], capture_output=True, text=True, timeout=60)
        assert missing.returncode != 0 and "99" in missing.stderr
    finally:
        broker.stop()


def test_cluster_metrics_and_readiness_follow_a_follower_that_dies_and_comes_back(workdir, etcd):
    from cluster import Cluster

    cluster = Cluster(workdir, etcd, count=3, extra_args=[
        "--override", "replica.lag.time.max.ms=2000", "--override", "replica.fetch.backoff.ms=200"]).start()
    try:
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        admin.create_topics([NewTopic("watched", 1, 3, config={"min.insync.replicas": "2"})])["watched"].result(30)
        isr = lambda m: sorted(m["topics"]["watched"][1][0][3]) if "watched" in m["topics"] and m["topics"]["watched"][1] else []
        metadata = cluster.wait_until(lambda m: isr(m) == [1, 2, 3], topics=["watched"], timeout=30)
        leader_id = metadata["topics"]["watched"][1][0][1]
        follower_id = next(b for b in (1, 2, 3) if b != leader_id)
        leader, follower = cluster.brokers[leader_id], cluster.brokers[follower_id]
        producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
        for i in range(100):
            producer.produce("watched", value=b"x" * 100, partition=0)
        assert producer.flush(30) == 0

        before = scrape_until(leader, lambda s: value(s, "runnel_under_replicated_partitions") == 0)
        assert value(before, "runnel_log_high_watermark", topic="watched", partition=0) == 100
        assert value(before, "runnel_topic_messages_in_total", topic="watched") == 100
        for broker in cluster.brokers.values():
            wait_ready(broker)

        follower.kill()
        cluster.wait_until(lambda m: isr(m) == sorted({1, 2, 3} - {follower_id}), topics=["watched"], timeout=30)
        shrunk = scrape_until(leader, lambda s: value(s, "runnel_under_replicated_partitions") >= 1)
        assert value(shrunk, "runnel_isr_shrinks_total") >= 1
        assert value(shrunk, "runnel_under_min_isr_partitions") == 0  # two of three still in sync, min.insync.replicas=2
        assert http_get(leader.metrics_port, "/readyz")[0] == 200

        follower.start()
        wait_ready(follower)
        # Ready means back in the ISR of its partition (its own view of the metadata says so).
        assert follower_id in isr(cluster.metadata(via=follower, topics=["watched"]))
        cluster.wait_until(lambda m: isr(m) == [1, 2, 3], topics=["watched"], timeout=30)
        expanded = scrape_until(leader, lambda s: value(s, "runnel_under_replicated_partitions") == 0)
        assert value(expanded, "runnel_isr_expands_total") >= 1
        assert value(scrape(follower), "runnel_log_end_offset", topic="watched", partition=0) == 100
    finally:
        cluster.stop()
