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


def zigzag_varint(value):
    """Kafka's zigzag varint (also varlong) encoding."""
    raw = (value << 1) ^ (value >> 63)
    raw &= (1 << 64) - 1
    out = bytearray()
    while raw >= 0x80:
        out.append((raw & 0x7F) | 0x80)
        raw >>= 7
    out.append(raw)
    return bytes(out)


def raw_record(offset_delta, value=b"v", timestamp_delta=0, length=None):
    """One v2 record; `length` overrides its length prefix (raw bytes) to make it malformed."""
    body = b"\x00" + zigzag_varint(timestamp_delta) + zigzag_varint(offset_delta) + zigzag_varint(-1)
    body += zigzag_varint(len(value)) + value + zigzag_varint(0)
    return (length if length is not None else zigzag_varint(len(body))) + body


def raw_batch(section, count, codec=0, attributes=0, producer_id=-1, base_sequence=-1, base_timestamp=1_700_000_000_000,
              max_timestamp=None):
    """A RecordBatch v2 around `section` (compressed here with `codec`), with a correct CRC."""
    from kafka.record.util import calc_crc32c
    if codec == 4:
        import zstandard
        section = zstandard.ZstdCompressor().compress(section)
    elif codec == 1:
        import gzip
        section = gzip.compress(section)
    after_crc = struct.pack(">hiqqqhii", codec | attributes, count - 1, base_timestamp,
                            base_timestamp if max_timestamp is None else max_timestamp,
                            producer_id, -1 if producer_id < 0 else 0, base_sequence, count) + section
    crc = calc_crc32c(after_crc)
    return struct.pack(">qiibI", 0, 4 + 1 + 4 + len(after_crc), -1, 2, crc) + after_crc


def produce_request_v7(topic, partition, records, acks=1, correlation_id=3):
    """Produce v7 (zstd allowed), same body layout as v3."""
    body = string(None) + struct.pack(">hi", acks, 10_000) + struct.pack(">i", 1) + string(topic)
    body += struct.pack(">i", 1) + struct.pack(">ii", partition, len(records)) + records
    return frame(header(0, 7, correlation_id) + body)


def produce_request_v8(topic, partition, records, acks=1, correlation_id=3):
    """Produce v8: the request is v7's; the response adds record_errors and error_message."""
    body = string(None) + struct.pack(">hi", acks, 10_000) + struct.pack(">i", 1) + string(topic)
    body += struct.pack(">i", 1) + struct.pack(">ii", partition, len(records)) + records
    return frame(header(0, 8, correlation_id) + body)


def parse_produce_response_v8(payload):
    """[(partition, error_code, base_offset, [(batch_index, message)], error_message)] of the one topic."""
    def nullable_string(offset):
        (length,) = struct.unpack_from(">h", payload, offset)
        if length < 0:
            return None, offset + 2
        return payload[offset + 2:offset + 2 + length].decode(), offset + 2 + length

    offset = 4 + 4
    (name_length,) = struct.unpack_from(">h", payload, offset)
    offset += 2 + name_length
    (count,) = struct.unpack_from(">i", payload, offset)
    offset += 4
    results = []
    for _ in range(count):
        partition, error, base_offset, _append_time, _log_start = struct.unpack_from(">ihqqq", payload, offset)
        offset += 30
        (error_count,) = struct.unpack_from(">i", payload, offset)
        offset += 4
        record_errors = []
        for _ in range(error_count):
            (batch_index,) = struct.unpack_from(">i", payload, offset)
            message, offset = nullable_string(offset + 4)
            record_errors.append((batch_index, message))
        message, offset = nullable_string(offset)
        results.append((partition, error, base_offset, record_errors, message))
    return results


def list_offsets(conn, topic, partition, timestamp, correlation_id=9):
    """ListOffsets v1: (error code, offset) for `timestamp` (-1 the log end, -2 the log start)."""
    body = struct.pack(">i", -1) + struct.pack(">i", 1) + string(topic) + struct.pack(">i", 1) + struct.pack(">iq", partition, timestamp)
    conn.send(frame(header(2, 1, correlation_id) + body))
    payload = conn.receive()
    offset = 4 + 4
    (name_length,) = struct.unpack_from(">h", payload, offset)
    offset += 2 + name_length + 4
    _partition, error, _timestamp, found = struct.unpack_from(">ihqq", payload, offset)
    return error, found


def list_offsets_v4(conn, topic, partition, timestamp, current_leader_epoch, correlation_id=10):
    """ListOffsets v4 (KIP-320's current_leader_epoch): (error code, offset, leader epoch)."""
    body = struct.pack(">ib", -1, 0) + struct.pack(">i", 1) + string(topic) + struct.pack(">i", 1)
    body += struct.pack(">iiq", partition, current_leader_epoch, timestamp)
    conn.send(frame(header(2, 4, correlation_id) + body))
    payload = conn.receive()
    offset = 4 + 4 + 4  # correlation id, throttle_time_ms, topics count
    (name_length,) = struct.unpack_from(">h", payload, offset)
    offset += 2 + name_length + 4
    _partition, error, _timestamp, found, epoch = struct.unpack_from(">ihqqi", payload, offset)
    return error, found, epoch


def list_offsets_latest(conn, topic, partition, correlation_id=9):
    """The log end offset by ListOffsets v1 (timestamp -1)."""
    error, end = list_offsets(conn, topic, partition, -1, correlation_id)
    assert error == 0, error
    return end


class Reader:
    """Reads Kafka's big-endian primitives from a response payload."""

    def __init__(self, payload, offset=0):
        self.payload = payload
        self.offset = offset

    def unpack(self, fmt):
        values = struct.unpack_from(">" + fmt, self.payload, self.offset)
        self.offset += struct.calcsize(">" + fmt)
        return values if len(values) > 1 else values[0]

    def string(self):
        length = self.unpack("h")
        if length < 0:
            return None
        value = self.payload[self.offset:self.offset + length].decode()
        self.offset += length
        return value

    def array(self, read_one):
        return [read_one() for _ in range(self.unpack("i"))]


def metadata_v1(conn, topics=None, correlation_id=21):
    """Metadata v1 (null topics = all): {brokers: {id: (host, port)}, controller, topics:
    {name: (error, {partition: (error, leader, replicas, isr)})}}."""
    body = struct.pack(">i", -1) if topics is None else struct.pack(">i", len(topics)) + b"".join(string(t) for t in topics)
    conn.send(frame(header(3, 1, correlation_id) + body))
    payload = conn.receive()
    if payload is None:
        return None
    r = Reader(payload, 4)
    brokers = dict(r.array(lambda: (r.unpack("i"), (r.string(), r.unpack("i"), r.string())[:2])))
    controller = r.unpack("i")

    def partition():
        error, index, leader = r.unpack("hii")
        return index, (error, leader, r.array(lambda: r.unpack("i")), r.array(lambda: r.unpack("i")))

    def topic():
        error = r.unpack("h")
        name = r.string()
        r.unpack("?")
        return name, (error, dict(r.array(partition)))

    return {"brokers": brokers, "controller": controller, "topics": dict(r.array(topic))}


def find_coordinator_v0(conn, group, correlation_id=22):
    """FindCoordinator v0: (error_code, node_id, host, port)."""
    conn.send(frame(header(10, 0, correlation_id) + string(group)))
    payload = conn.receive()
    if payload is None:
        return None
    r = Reader(payload, 4)
    return r.unpack("h"), r.unpack("i"), r.string(), r.unpack("i")


def offset_for_leader_epoch_v2(conn, topic, partition, current_leader_epoch, leader_epoch, correlation_id=23):
    """OffsetForLeaderEpoch v2 for one partition: (error_code, leader_epoch, end_offset)."""
    body = struct.pack(">i", 1) + string(topic) + struct.pack(">i", 1) + struct.pack(">iii", partition, current_leader_epoch, leader_epoch)
    conn.send(frame(header(23, 2, correlation_id) + body))
    payload = conn.receive()
    if payload is None:
        return None
    r = Reader(payload, 4)
    r.unpack("i")  # throttle time
    [(_, [answer])] = r.array(lambda: (r.string(), r.array(lambda: r.unpack("hiiq"))))
    error, _, epoch, end_offset = answer
    return error, epoch, end_offset


def offset_commit_v2(conn, group, offsets, generation=-1, member="", correlation_id=24):
    """OffsetCommit v2 (a simple commit by default: generation -1, no member) of
    {(topic, partition): offset}; returns {(topic, partition): error_code}."""
    topics = {}
    for (topic, partition), offset in offsets.items():
        topics.setdefault(topic, []).append((partition, offset))
    body = string(group) + struct.pack(">i", generation) + string(member) + struct.pack(">q", -1)
    body += struct.pack(">i", len(topics))
    for topic, partitions in topics.items():
        body += string(topic) + struct.pack(">i", len(partitions))
        body += b"".join(struct.pack(">iq", partition, offset) + string(None) for partition, offset in partitions)
    conn.send(frame(header(8, 2, correlation_id) + body))
    payload = conn.receive()
    if payload is None:
        return None
    r = Reader(payload, 4)
    result = {}
    for _ in range(r.unpack("i")):
        name = r.string()
        for _ in range(r.unpack("i")):
            partition, error = r.unpack("ih")
            result[(name, partition)] = error
    return result


def offset_fetch_v2_error(conn, group, correlation_id=25):
    """OffsetFetch v2 of all the group's offsets (null topics); returns the top-level error code."""
    conn.send(frame(header(9, 2, correlation_id) + string(group) + struct.pack(">i", -1)))
    payload = conn.receive()
    if payload is None:
        return None
    r = Reader(payload, 4)
    r.array(lambda: (r.string(), r.array(lambda: (r.unpack("iq"), r.string(), r.unpack("h")))))
    return r.unpack("h")


def compact_string(value):
    """A flexible version's (compact, nullable) string: length + 1 as an unsigned varint."""
    if value is None:
        return b"\x00"
    data = value.encode()
    return unsigned_varint(len(data) + 1) + data


def unsigned_varint(value):
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def consumer_group_heartbeat_v1_error(conn, group, member_id, regex, correlation_id=26):
    """A KIP-848 join (epoch 0) subscribing by `regex` alone; returns (error_code, error_message)."""
    body = compact_string(group) + compact_string(member_id) + struct.pack(">i", 0)
    body += compact_string(None) + compact_string(None) + struct.pack(">i", 30_000)
    body += unsigned_varint(1)  # SubscribedTopicNames: an empty compact array
    body += compact_string(regex) + compact_string(None) + unsigned_varint(1) + b"\x00"  # no owned partitions, no tags
    request_header = struct.pack(">hhi", 68, 1, correlation_id) + string("runnel-tests") + b"\x00"
    conn.send(frame(request_header + body))
    payload = conn.receive()
    if payload is None:
        return None
    offset = 4 + 1 + 4  # correlation id, header tags, throttle time
    (error,) = struct.unpack_from(">h", payload, offset)
    offset += 2
    length = payload[offset] - 1  # compact nullable string (short messages: a one-byte varint)
    message = payload[offset + 1:offset + 1 + length].decode() if length >= 0 else None
    return error, message
