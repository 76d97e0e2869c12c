"""Starts real `runnel broker` processes for the integration suite.

The suite drives them with real Kafka clients (kcat/librdkafka, confluent-kafka, kafka-python):
our own client is never the only witness that the protocol is right.
"""
import os
import signal
import socket
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNEL = os.environ.get("RUNNEL_BIN", os.path.join(ROOT, ".build", "debug", "runnel"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BrokerProcess:
    """One broker process on a private data directory and a free port."""

    def __init__(self, data_dir, port=None, extra_args=(), wrapper=(), env=None):
        self.data_dir = data_dir
        # Extra environment variables (RUNNEL_FAILPOINT for crash tests).
        self.env = dict(env or {})
        self.port = port or free_port()
        self.extra_args = list(extra_args)
        # Every broker serves /metrics on a port of its own (the default 127.0.0.1:9644 would
        # be shared by the brokers of a cluster).
        self.metrics_port = free_port()
        if not any(arg.startswith("--metrics-listen") for arg in self.extra_args):
            self.extra_args += ["--metrics-listen", f"127.0.0.1:{self.metrics_port}"]
        # A command the broker runs under (strace ...); signals still go to the broker itself.
        self.wrapper = list(wrapper)
        self.process = None
        self.log_path = os.path.join(os.path.dirname(data_dir), f"broker-{self.port}.log")

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [*self.wrapper, RUNNEL, "broker", "--data-dir", self.data_dir, "--listen", self.bootstrap, *self.extra_args],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **self.env})
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"broker exited with {self.process.returncode}: {self.read_log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("broker did not start listening: " + self.read_log())

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        os.kill(self.broker_pid(), sig)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # A broker that does not stop is a bug: keep what shows where it hangs.
            stacks = self.stacks()
            self.process.kill()
            self.process.wait()
            raise RuntimeError(
                f"broker did not stop within {timeout} s of signal {sig}; its threads:\n{stacks}\nits log:\n{self.read_log()[-4000:]}")
        self.log.close()
        return code

    def stacks(self):
        """Every thread's stack, from gdb if it is installed."""
        try:
            return subprocess.run(
                ["gdb", "-p", str(self.broker_pid()), "-batch", "-ex", "thread apply all bt 30"],
                capture_output=True, text=True, timeout=60).stdout[-20000:]
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"(no stacks: {error})"

    def broker_pid(self):
        if not self.wrapper:
            return self.process.pid
        with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as f:
            return int(f.read().split()[0])

    def kill(self):
        return self.stop(signal.SIGKILL)

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


@pytest.fixture
def workdir():
    # RUNNEL_KEEP_WORKDIR=1 keeps data directories and broker logs for a post-mortem.
    if os.environ.get("RUNNEL_KEEP_WORKDIR"):
        d = tempfile.mkdtemp(prefix="runnel-it-")
        print(f"\nworkdir kept: {d}")
        yield d
        return
    with tempfile.TemporaryDirectory(prefix="runnel-it-") as d:
        yield d


@pytest.fixture
def etcd(workdir):
    """A real etcd on free ports, for cluster tests (cluster.py imports this module, hence
    the import here)."""
    from cluster import EtcdProcess
    process = EtcdProcess(workdir).start()
    yield process
    process.stop()


@pytest.fixture
def broker(workdir):
    b = BrokerProcess(os.path.join(workdir, "data")).start()
    yield b
    code = b.stop()
    assert code == 0, "broker did not shut down cleanly on SIGTERM:\n" + b.read_log()
    assert "stopped cleanly" in b.read_log()
