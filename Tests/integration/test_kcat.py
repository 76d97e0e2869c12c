"""kcat (librdkafka 2.0.2 from Debian): metadata, produce with every codec, consume."""
import subprocess


def kcat(broker, *args, input=None, timeout=30):
    result = subprocess.run(["kcat", "-b", broker.bootstrap, *args], input=input, capture_output=True, timeout=timeout)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def test_metadata_lists_the_broker_and_auto_created_topics(broker):
    kcat(broker, "-t", "auto-created", "-P", input=b"hello\n")
    out = kcat(broker, "-L")
    assert "1 brokers:" in out and f"broker 1 at {broker.bootstrap} (controller)" in out
    assert 'topic "auto-created" with 1 partitions' in out


def test_produce_every_codec_and_consume_in_order(broker):
    expected = []
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
        lines = [f"{codec}-{i}" for i in range(200)]
        expected += lines
        kcat(broker, "-t", "codecs", "-P", "-z", codec, input=("\n".join(lines) + "\n").encode())
    out = kcat(broker, "-t", "codecs", "-C", "-e", "-o", "beginning", "-f", "%o %s\n")
    rows = [line.split(" ", 1) for line in out.splitlines() if line]
    assert [value for _, value in rows] == expected
    assert [int(offset) for offset, _ in rows] == list(range(len(expected)))


def test_keys_and_headers_round_trip(broker):
    kcat(broker, "-t", "keyed", "-P", "-K", ":", "-H", "trace=abc", "-H", "empty=", input=b"k1:v1\nk2:v2\n")
    out = kcat(broker, "-t", "keyed", "-C", "-e", "-o", "beginning", "-f", "%k=%s %h\n")
    assert out.splitlines() == ["k1=v1 trace=abc,empty=", "k2=v2 trace=abc,empty="]
