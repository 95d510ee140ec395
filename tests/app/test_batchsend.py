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


class FlakyProducer:
    """What TopicBatches uses of an aiokafka producer; the first hand-offs fail as they do
    while the broker is unreachable for longer than the request timeout."""

    def __init__(self, failures: int, closed: bool = False) -> None:
        self.failures, self.closed, self.batches = failures, closed, []

    async def partitions_for(self, topic):
        return {0}

    def _partition(self, topic, partition, key, value, serialized_key, serialized_value):
        return 0

    def create_batch(self):
        producer = self

        class Batch(list):
            def append(self, *, timestamp, key, value):
                super().append(value)
                return producer  # anything but None: it fitted

            def close(self):
                pass

        return Batch()

    async def send_batch(self, batch, topic, *, partition):
        from aiokafka.errors import KafkaTimeoutError, ProducerClosed

        if self.closed:
            raise ProducerClosed()
        if self.failures:
            self.failures -= 1
            raise KafkaTimeoutError()
        self.batches.append(list(batch))


def test_a_failed_hand_off_is_retried_and_holds_the_message_meanwhile(monkeypatch):
    import app.batchsend as batchsend

    monkeypatch.setattr(batchsend, "RETRY_SECONDS", 0.01)
    producer, released = FlakyProducer(failures=3), []

    async def send() -> tuple[float, float]:
        batches = TopicBatches("scores", on_sent=released.append)
        await batches.send(producer, [(b"k", b"a")], SOURCE, 5)
        await asyncio.sleep(0.015)  # a hand-off or two failed
        held = batches.holds(SOURCE)
        await batches.sent()
        return held, batches.holds(SOURCE)

    held, after = asyncio.run(send())
    assert (held, after) == (5, float("inf"))
    assert producer.batches == [[b"a"]] and released == [{SOURCE}]


def test_a_closed_producer_leaves_the_message_held_for_redelivery():
    async def send() -> float:
        batches = TopicBatches("scores")
        await batches.send(FlakyProducer(failures=0, closed=True), [(b"k", b"a")], SOURCE, 9)
        await batches.sent()
        return batches.holds(SOURCE)

    assert asyncio.run(send()) == 9


class GatedProducer(FlakyProducer):
    """Each hand-off waits until the test lets it through."""

    def __init__(self) -> None:
        super().__init__(failures=0)
        self.gate = asyncio.Semaphore(0)

    async def send_batch(self, batch, topic, *, partition):
        await self.gate.acquire()
        await super().send_batch(batch, topic, partition=partition)


def test_a_batch_queued_before_a_revocation_never_releases_the_same_offset_read_again():
    """The partition comes back and its messages are read again with the same offsets: the
    old batch going out must not release the new one's hold."""

    async def send() -> list[float]:
        producer, seen = GatedProducer(), []
        batches = TopicBatches("scores")
        await batches.send(producer, [(b"k", b"old")], SOURCE, 100)
        await asyncio.sleep(0)  # the old batch is being handed over
        batches.forget({SOURCE})
        await batches.send(producer, [(b"k", b"new")], SOURCE, 100)
        producer.gate.release()
        while len(producer.batches) < 1:
            await asyncio.sleep(0.001)
        seen.append(batches.holds(SOURCE))  # the old one is out, the new one still queued
        producer.gate.release()
        await batches.sent()
        seen.append(batches.holds(SOURCE))
        return seen

    assert asyncio.run(send()) == [100, float("inf")]
