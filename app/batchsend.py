"""Many records to one topic, handed to the producer as whole record batches.

`producer.send` costs tens of microseconds of Python per record (a future,
the partitioner's pure-Python murmur2, the accumulator's coroutine); the
windows stage sends one score per closed bar, thousands a second. Here a
message's records are appended to aiokafka's batch builder (C code) and
each full batch is submitted once. A closed batch does not linger: the
sender takes it at its next pass. Records keep their order per partition,
and the producer's flush (which Faust's commit awaits) covers these batches
like any other.
"""

from __future__ import annotations

from collections.abc import Iterable


class TopicBatches:
    def __init__(self, topic: str) -> None:
        self.topic = topic
        #: key → partition, as the producer's own partitioner picks it; valid while the
        #: topic's partition count is `_count`
        self._partitions: dict[bytes, int] = {}
        self._count = 0

    async def send(self, producer, records: Iterable[tuple[bytes, bytes]]) -> None:
        """Send (key, value) records with `producer` (an aiokafka producer), per partition
        in the order given."""
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
                    await self._submit(producer, batch, partition)
                    batch = producer.create_batch()
                    batch.append(timestamp=None, key=key, value=value)
            await self._submit(producer, batch, partition)

    async def _submit(self, producer, batch, partition: int) -> None:
        batch.close()
        await producer.send_batch(batch, self.topic, partition=partition)
