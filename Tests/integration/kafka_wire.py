"""A few Kafka requests encoded by hand, for tests that must send what no client would."""
import socket
import struct

from kafka.record.default_records import DefaultRecordBatchBuilder


def string(value):
    if value is None:
        return struct.pack(">h", -1)
    data = value.encode()
    return struct.pack(">h", len(data)) + data


def header(api_key, version, correlation_id, client_id="runnel-tests"):
    return struct.pack(">hhi", api_key, version, correlation_id) + string(client_id)


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def api_versions_request(version=0, correlation_id=1):
    return frame(header(18, version, correlation_id))


def metadata_request_v1(topics, correlation_id=2):
    body = struct.pack(">i", len(topics)) + b"".join(string(t) for t in topics)
    return frame(header(3, 1, correlation_id) + body)


def record_batch(values, codec=0):
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=codec, is_transactional=False,
                                        producer_id=-1, producer_epoch=-1, base_sequence=-1, batch_size=1 << 20)
    for i, value in enumerate(values):
        builder.append(i, timestamp=1_700_000_000_000 + i, key=None, value=value, headers=[])
    return bytes(builder.build())


def produce_request_v3(topic, partition, records, acks=1, correlation_id=3):
    body = string(None) + struct.pack(">hi", acks, 10_000) + struct.pack(">i", 1) + string(topic)
    body += struct.pack(">i", 1) + struct.pack(">ii", partition, len(records)) + records
    return frame(header(0, 3, correlation_id) + body)


def parse_produce_response_v3(payload):
    """Returns [(partition, error_code, base_offset)] for the single topic of the response."""
    correlation_id, topics = struct.unpack_from(">ii", payload, 0)
    offset = 8
    (name_length,) = struct.unpack_from(">h", payload, offset)
    offset += 2 + name_length
    (count,) = struct.unpack_from(">i", payload, offset)
    offset += 4
    results = []
    for _ in range(count):
        partition, error, base_offset, _append_time = struct.unpack_from(">ihqq", payload, offset)
        offset += 22
        results.append((partition, error, base_offset))
    return results


class Connection:
    def __init__(self, broker, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", broker.port), timeout=timeout)

    def send(self, data):
        self.sock.sendall(data)

    def receive(self):
        """One response frame, or None if the broker closed the connection."""
        size = self._read(4)
        if size is None:
            return None
        (length,) = struct.unpack(">i", size)
        return self._read(length)

    def _read(self, n):
        data = b""
        while len(data) < n:
            try:
                chunk = self.sock.recv(n - len(data))
            except (ConnectionResetError, socket.timeout):
                return None
            if not chunk:
                return None
            data += chunk
        return data

    def close(self):
        self.sock.close()
