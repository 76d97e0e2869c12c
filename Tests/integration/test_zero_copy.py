"""Fetch responses carry record bytes from the segment files with sendfile(2)."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import BrokerProcess


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (tools/setup installs it)")
def test_fetch_sends_records_with_sendfile(workdir):
    trace = os.path.join(workdir, "strace.out")
    broker = BrokerProcess(os.path.join(workdir, "data"),
                           wrapper=["strace", "-f", "-qq", "-e", "trace=sendfile", "-o", trace]).start()
    payload = b"".join(b"zero-copy record %06d %s\n" % (i, b"x" * 200) for i in range(5000))
    subprocess.run(["kcat", "-b", broker.bootstrap, "-t", "zc", "-P"], input=payload, check=True, timeout=60)
    out = subprocess.run(["kcat", "-b", broker.bootstrap, "-t", "zc", "-C", "-e", "-o", "beginning"],
                         capture_output=True, check=True, timeout=60).stdout
    assert out.count(b"zero-copy record") == 5000
    assert broker.stop() == 0
    calls = [line for line in open(trace).read().splitlines() if "sendfile(" in line]
    assert calls, "no sendfile calls were traced"
    sent = sum(int(m.group(1)) for line in calls if (m := re.search(r"=\s+(\d+)\s*$", line)))
    # Every record byte went out through sendfile (batch headers add a little on top).
    assert sent >= len(payload), (sent, len(payload))
