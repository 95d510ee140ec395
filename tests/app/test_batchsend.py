"""TopicBatches: records go out as whole batches, on the partition `send` would pick, in order,
and the messages that made them stay held until they are in the producer."""

from __future__ import annotations

import asyncio
import os
import uuid

from aiokafka import AIOKafkaProducer
from faust.types import TP

from app.batchsend import TopicBatches
from tests.stack import read_topic

BROKER = os.environ.get("VOLSPIKE_TEST_BROKER", "")
SOURCE = TP("ticks.raw", 0)


def new_topic() -> str:
    """A fresh topic name: the embedded broker creates it with 4 partitions on first use."""
    return f"batches-{uuid.uuid4().hex[:8]}"


async def started(**config) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(bootstrap_servers=BROKER, **config)
    await producer.start()
    return producer


def test_records_keep_their_partition_and_order_across_many_batches():
    topic = new_topic()
    keys = [f"P{i}-USD".encode() for i in range(5)]
    records = [(keys[i % 5], b"%d:" % i + b"x" * 100) for i in range(300)]

    async def send() -> dict[bytes, int]:
        # small batches: 300 records of ~110 bytes need a dozen of them
        producer = await started(max_batch_size=2048)
        try:
            batches = TopicBatches(topic)
            await batches.send(producer, records[:150])
            await batches.send(producer, records[150:])
            await batches.sent()
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


def test_a_message_is_held_until_its_records_are_in_the_producer():
    topic = new_topic()
    released: list[set] = []

    async def send() -> tuple[float, float, float]:
        producer = await started()
        try:
            batches = TopicBatches(topic, on_sent=released.append)
            await batches.send(producer, [(b"k", b"a"), (b"k", b"b")], SOURCE, 7)
            await batches.send(producer, [(b"k", b"c")], SOURCE, 8)
            queued = batches.holds(SOURCE)  # nothing has run yet: both are queued
            await batches.sent()
            after = batches.holds(SOURCE)
            await batches.send(producer, [(b"k", b"d")], SOURCE, 9)
            batches.forget({SOURCE})  # revoked: still sent, but holds nothing
            forgotten = batches.holds(SOURCE)
            await batches.sent()
            await producer.flush()
            return queued, after, forgotten
        finally:
            await producer.stop()

    queued, after, forgotten = asyncio.run(send())
    assert queued == 7
    assert after == forgotten == float("inf")
    assert released == [{SOURCE}, {SOURCE}]  # one call per batch handed over, not the revoked
    assert [m.value() for m in read_topic(BROKER, topic)] == [b"a", b"b", b"c", b"d"]


def test_a_record_larger_than_a_batch_goes_out_in_a_batch_of_its_own():
    topic = new_topic()
    records = [(b"k", b"small"), (b"k", b"x" * 4096), (b"k", b"after")]

    async def send() -> None:
        producer = await started(max_batch_size=1024)
        try:
            batches = TopicBatches(topic)
            await batches.send(producer, records)
            await batches.sent()
        finally:
            await producer.stop()

    asyncio.run(send())
    assert [m.value() for m in read_topic(BROKER, topic)] == [v for _, v in records]
