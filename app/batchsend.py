"""Many records to one topic, handed to the producer as whole record batches, in the background.

`producer.send` costs tens of microseconds of Python per record (a future,
the partitioner's pure-Python murmur2, the accumulator's coroutine); the
windows stage sends one score per closed bar, thousands a second. Here a
message's records are appended to aiokafka's batch builder (C code), and
each closed batch is queued for one task that hands them to the producer in
order, so the stream never waits while the producer still holds the
previous batch of a partition (it holds one at a time). Records keep their
order per partition.

Faust's commit flushes the producer, not this queue, so the offsets of the
messages whose records are still queued are held (`holds`, like the
archive's): the stage acks a message only once its records are in the
producer. A failed hand-off (the broker unreachable for longer than the
producer's request timeout) is retried, and holds those acks meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Callable, Iterable

from aiokafka.errors import ProducerClosed
from faust.types import TP

log = logging.getLogger(__name__)

#: queued batches before `send` waits for the producer (back-pressure)
MAX_QUEUED = 64
RETRY_SECONDS = 1.0


class TopicBatches:
    def __init__(self, topic: str, on_sent: Callable[[set[TP]], None] = lambda tps: None) -> None:
        self.topic = topic
        #: called with the source partitions whose records just reached the producer
        self.on_sent = on_sent
        #: key → partition, as the producer's own partitioner picks it; valid while the
        #: topic's partition count is `_count`
        self._partitions: dict[bytes, int] = {}
        self._count = 0
        #: [producer, batch, partition, source partition, source offset], oldest first; the
        #: source is None for batches that hold no ack
        self._queue: deque[list] = deque()
        #: per source partition, the offsets of its queued batches
        self._held: dict[TP, deque[int]] = {}
        self._task: asyncio.Task | None = None
        self._room: asyncio.Event | None = None

    async def send(self, producer, records: Iterable[tuple[bytes, bytes]],
                   source: TP | None = None, offset: int = -1) -> None:
        """Queue (key, value) records for `producer` (an aiokafka producer), per partition in
        the order given; they were made by the message at `offset` of `source`."""
        count = len(await producer.partitions_for(self.topic))
        if count != self._count:
            self._partitions, self._count = {}, count
        groups: dict[int, list[tuple[bytes, bytes]]] = {}
        for key, value in records:
            partition = self._partitions.get(key)
            if partition is None:
                partition = self._partitions[key] = producer._partition(
                    self.topic, None, None, None, key, None)
            groups.setdefault(partition, []).append((key, value))
        for partition, items in groups.items():
            batch = producer.create_batch()
            for key, value in items:
                if batch.append(timestamp=None, key=key, value=value) is None:
                    # full: an empty batch takes any one record, however large
                    self._enqueue(producer, batch, partition, source, offset)
                    batch = producer.create_batch()
                    batch.append(timestamp=None, key=key, value=value)
            self._enqueue(producer, batch, partition, source, offset)
        while len(self._queue) >= MAX_QUEUED:
            if self._room is None:
                self._room = asyncio.Event()
            self._room.clear()
            await self._room.wait()

    async def sent(self) -> None:
        """Wait until every queued batch is in the producer."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    def holds(self, source: TP) -> float:
        """The lowest offset of `source` whose records are not in the producer yet."""
        held = self._held.get(source)
        return min(held) if held else math.inf

    def forget(self, sources: set[TP]) -> None:
        """Partitions this worker lost: their batches still go out, but hold no acks, even if
        the partition comes back and its messages are read again (same offsets)."""
        for source in sources:
            self._held.pop(source, None)
        for entry in self._queue:
            if entry[3] in sources:
                entry[3] = None

    def _enqueue(self, producer, batch, partition: int, source: TP | None, offset: int) -> None:
        batch.close()  # a closed batch does not linger in the producer
        self._queue.append([producer, batch, partition, source, offset])
        if source is not None:
            self._held.setdefault(source, deque()).append(offset)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        queue = self._queue
        while queue:
            producer, batch, partition, _, _ = queue[0]
            try:
                await producer.send_batch(batch, self.topic, partition=partition)
            except ProducerClosed:  # shutting down: the messages stay held, never acked
                log.warning("producer closed with %d batches of %s queued: their messages are "
                            "not acked and will be processed again", len(queue), self.topic)
                queue.clear()
                if self._room is not None:
                    self._room.set()
                return
            except Exception as exc:  # noqa: BLE001 - the broker gone for a while: retry
                log.error("could not hand a batch of %s to the producer (%r); retrying",
                          self.topic, exc)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            *_, source, offset = queue.popleft()  # read now: `forget` may have cleared it
            if self._room is not None and len(queue) < MAX_QUEUED:
                self._room.set()
            held = self._held.get(source)
            if held:
                held.remove(offset)
                if not held:
                    del self._held[source]
                try:
                    self.on_sent({source})
                except Exception:  # noqa: BLE001 - the queue must keep draining
                    log.exception("releasing %s after a batch of %s failed", source, self.topic)
