"""Idempotent-producer state (issue 11, item 13): InitProducerId without a transactional id
always hands out a fresh producer id, never a bumped epoch of an id another client may hold; and
`producer.id.expiration.ms` makes the broker forget a silent producer, so a batch it already
holds is appended again instead of being answered as a duplicate (Kafka accepts any sequence
from a producer it does not know)."""
import os
import struct
import time

from kafka import KafkaProducer
from kafka.record.default_records import DefaultRecordBatchBuilder

from conftest import BrokerProcess
from kafka_wire import Connection, frame, header, parse_produce_response_v3, produce_request_v3

INVALID_PRODUCER_EPOCH = 47


def init_producer_id(broker, producer_id=-1, epoch=-1):
    """InitProducerId v4 (flexible) without a transactional id; returns (error, id, epoch)."""
    body = b"\x00" + struct.pack(">iqh", 60_000, producer_id, epoch) + b"\x00"  # null id, tags
    connection = Connection(broker)
    try:
        connection.send(frame(header(22, 4, 7) + b"\x00" + body))  # request header v2: + tags
        response = connection.receive()
    finally:
        connection.close()
    # Response header v1 (correlation id, tags), then throttle, error, id, epoch.
    _throttle, error, pid, pepoch = struct.unpack_from(">ihqh", response, 5)
    return error, pid, pepoch


def idempotent_batch(producer_id, epoch, sequence, values, timestamp):
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=producer_id,
                                        producer_epoch=epoch, base_sequence=sequence, batch_size=1 << 20)
    for i, value in enumerate(values):
        builder.append(i, timestamp=timestamp, key=None, value=value, headers=[])
    return bytes(builder.build())


def produce(broker, topic, batch):
    """(error, base offset) of a produce of one batch to partition 0."""
    connection = Connection(broker)
    try:
        connection.send(produce_request_v3(topic, 0, batch))
        [(_partition, error, base_offset)] = parse_produce_response_v3(connection.receive())
    finally:
        connection.close()
    return error, base_offset


def create_topic(broker, name):
    from confluent_kafka.admin import AdminClient, NewTopic
    client = AdminClient({"bootstrap.servers": broker.bootstrap})  # kept referenced until the result
    client.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(10)


def test_init_producer_id_never_hands_out_an_id_another_client_holds(broker):
    create_topic(broker, "ids")
    error, first, first_epoch = init_producer_id(broker)
    assert (error, first_epoch) == (0, 0)
    now = int(time.time() * 1000)
    assert produce(broker, "ids", idempotent_batch(first, 0, 0, [b"a"], now)) == (0, 0)

    # A second client naming the first one's id (as a KIP-360 epoch bump does) gets an id of its
    # own: bumping the first one's epoch would fence that producer.
    error, second, second_epoch = init_producer_id(broker, producer_id=first, epoch=0)
    assert error == 0 and second != first and second_epoch == 0
    assert produce(broker, "ids", idempotent_batch(second, second_epoch, 0, [b"b"], now)) == (0, 1)
    assert produce(broker, "ids", idempotent_batch(first, 0, 1, [b"c"], now)) == (0, 2)

    # Every request gets a fresh id; and so do real idempotent producers.
    assert len({init_producer_id(broker)[1] for _ in range(5)} | {first, second}) == 7
    producers = [KafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=True) for _ in range(2)]
    try:
        for producer in producers:
            producer.send("ids", b"from kafka-python").get(timeout=10)
        ids = {producer._transaction_manager.producer_id_and_epoch.producer_id for producer in producers}
        assert len(ids) == 2 and not ids & {first, second}
    finally:
        for producer in producers:
            producer.close()


def test_a_silent_producer_is_forgotten_after_producer_id_expiration_ms(workdir):
    broker = BrokerProcess(os.path.join(workdir, "data"), extra_args=[
        "--override", "producer.id.expiration.ms=2000", "--override", "producer.id.expiration.check.interval.ms=100"]).start()
    try:
        create_topic(broker, "expiring")
        error, producer_id, epoch = init_producer_id(broker)
        assert error == 0
        batch = idempotent_batch(producer_id, epoch, 0, [b"x", b"y"], int(time.time() * 1000))
        assert produce(broker, "expiring", batch) == (0, 0)

        # Until the producer expires, the same batch is a retry: answered with its first offset,
        # nothing stored. Once expired (its batch timestamp two seconds old), it is new data.
        answers, deadline = [], time.time() + 20
        while time.time() < deadline:
            answers.append(produce(broker, "expiring", batch))
            if answers[-1] != (0, 0):
                break
            time.sleep(0.1)
        assert answers[0] == (0, 0), "a retry before expiry must be a duplicate"
        assert answers[-1] == (0, 2), answers[-5:]
    finally:
        code = broker.stop()
    assert code == 0, broker.read_log()
