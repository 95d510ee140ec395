"""TopicBatches: records go out as whole batches, on the partition `send` would pick, in order."""

from __future__ import annotations

import asyncio
import os
import uuid

from aiokafka import AIOKafkaProducer

from app.batchsend import TopicBatches
from tests.stack import read_topic

BROKER = os.environ.get("VOLSPIKE_TEST_BROKER", "")


def new_topic() -> str:
    """A fresh topic name: the embedded broker creates it with 4 partitions on first use."""
    return f"batches-{uuid.uuid4().hex[:8]}"


def test_records_keep_their_partition_and_order_across_many_batches():
    topic = new_topic()
    keys = [f"P{i}-USD".encode() for i in range(5)]
    records = [(keys[i % 5], b"%d:" % i + b"x" * 100) for i in range(300)]

    async def send() -> dict[bytes, int]:
        # small batches: 300 records of ~110 bytes need a dozen of them
        producer = AIOKafkaProducer(bootstrap_servers=BROKER, max_batch_size=2048)
        await producer.start()
        try:
            batches = TopicBatches(topic)
            await batches.send(producer, records[:150])
            await batches.send(producer, records[150:])
            # where the producer's own send puts each key
            sent = {key: await producer.send_and_wait(topic, b"probe", key=key) for key in keys}
            return {key: meta.partition for key, meta in sent.items()}
        finally:
            await producer.stop()

    expected = asyncio.run(send())
    messages = [m for m in read_topic(BROKER, topic) if m.value() != b"probe"]
    assert len(messages) == 300
    assert len(set(expected.values())) > 1  # the keys really spread over partitions
    for key in keys:
        mine = [m for m in messages if m.key() == key]
        assert {m.partition() for m in mine} == {expected[key]}
        assert [m.value() for m in sorted(mine, key=lambda m: m.offset())] == [
            v for k, v in records if k == key]
        assert all(m.timestamp()[1] > 0 for m in mine)  # stamped when appended


def test_a_record_larger_than_a_batch_goes_out_in_a_batch_of_its_own():
    topic = new_topic()
    records = [(b"k", b"small"), (b"k", b"x" * 4096), (b"k", b"after")]

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=BROKER, max_batch_size=1024)
        await producer.start()
        try:
            await TopicBatches(topic).send(producer, records)
        finally:
            await producer.stop()

    asyncio.run(send())
    assert [m.value() for m in read_topic(BROKER, topic)] == [v for _, v in records]
