"""A real etcd and real `runnel broker --metadata etcd://...` processes, for cluster tests."""
import os
import shutil
import subprocess
import time

from conftest import BrokerProcess, free_port
import kafka_wire


class EtcdProcess:
    """Debian's etcd on free loopback ports with a temporary data directory. Short heartbeat
    and election timeouts let etcd grant 1 s leases (it raises shorter TTLs to 1.5 x the
    election timeout)."""

    def __init__(self, workdir):
        binary = shutil.which("etcd")
        assert binary, "etcd is not installed: run tools/setup (Debian's etcd-server)"
        self.client_port, peer_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{peer_port}"
        self.log_path = os.path.join(workdir, "etcd.log")
        self.args = [
            binary, "--name", "runnel-test", "--data-dir", os.path.join(workdir, "etcd"),
            "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", f"runnel-test={peer}",
            "--heartbeat-interval", "50", "--election-timeout", "500", "--logger", "zap", "--log-level", "error",
            "--experimental-watch-progress-notify-interval", "5s"]
        self.process = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        import urllib.request
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as answer:
                    if b'"true"' in answer.read():
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("etcd did not become healthy")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
            self.log.close()

    @property
    def metadata_url(self):
        return f"etcd://127.0.0.1:{self.client_port}"


class Cluster:
    """N brokers (ids 1..N) on one etcd, each with its own data directory and port."""

    def __init__(self, workdir, etcd, count=3, lease_ms=1000, extra_args=()):
        self.etcd = etcd
        self.brokers = {}
        for broker_id in range(1, count + 1):
            self.brokers[broker_id] = self.make_broker(workdir, broker_id, lease_ms, extra_args)

    def make_broker(self, workdir, broker_id, lease_ms=1000, extra_args=(), data_dir=None):
        data_dir = data_dir or os.path.join(workdir, f"broker-{broker_id}", "data")
        os.makedirs(os.path.dirname(data_dir), exist_ok=True)
        return BrokerProcess(data_dir, extra_args=[
            "--broker-id", str(broker_id), "--metadata", self.etcd.metadata_url,
            "--override", f"metadata.lease.ttl.ms={lease_ms}", *extra_args])

    def start(self):
        for broker in self.brokers.values():
            broker.start()
        self.wait_until(lambda m: len(m["brokers"]) == len(self.brokers) and m["controller"] in self.brokers)
        return self

    @property
    def bootstrap(self):
        return ",".join(b.bootstrap for b in self.brokers.values())

    def live(self):
        return [b for b in self.brokers.values() if b.process and b.process.poll() is None]

    def metadata(self, via=None, topics=None):
        """Metadata v1 from one live broker (the first that answers)."""
        for broker in ([via] if via else self.live()):
            try:
                conn = kafka_wire.Connection(broker, timeout=5)
                try:
                    answer = kafka_wire.metadata_v1(conn, topics)
                finally:
                    conn.close()
                if answer is not None:
                    return answer
            except OSError:
                continue
        return None

    def wait_until(self, condition, timeout=20, via=None, topics=None):
        """Polls Metadata until `condition(metadata)` holds; fails the test after `timeout`."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.metadata(via, topics)
            if last is not None and condition(last):
                return last
            time.sleep(0.02)
        raise AssertionError(f"the cluster did not reach the expected state in {timeout} s; last metadata: {last}")

    def stop(self):
        codes = {}
        for broker_id, broker in self.brokers.items():
            if broker.process and broker.process.poll() is None:
                codes[broker_id] = broker.stop()
        return codes
