"""Consumer throughput over a backlog, in rounds that fit the embedded broker's retention.

The embedded broker keeps only the newest ~5 MB of each partition, and the
recordings are nearly all BTC-USD, i.e. one partition: a backlog of 200k
ticks cannot be preloaded. So each round stops the consumer (SIGSTOP), appends
one chunk that fits (default 6,000 messages ≈ 2.8 MB), resumes it (SIGCONT)
and times it until it has consumed the chunk. Only those catch-up intervals
count, so the producer never competes with the consumer for the two cores,
and all three consumers are measured the same way. Progress is sampled every
`poll` seconds, so each round may be over-timed by up to one poll interval;
from the second round on, sampling starts only after 80% of the time the
rate so far predicts, so the sampling itself costs the consumer little.

The embedded broker (librdkafka's mock cluster) answers a fetch that found no
data only when its max wait expires (1.5 s in Faust), even if data arrives
meanwhile; Apache Kafka answers as soon as data arrives. The consumer's last
fetch of a round is such an empty one, so each round resumes the consumer only
once that fetch has expired (`FETCH_SETTLE` after it was stopped), or every
round would be over-timed by up to 1.5 s of a broker artifact.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition

from app.produce import split_frames
from bench.feed import Item, Producer, take
from models.ticks import Rejected, parse

#: Faust's consumer settings (faust/transport/drivers/aiokafka.py, Faust's defaults)
CONSUMER_SETTINGS = {"max_partition_fetch_bytes": 4 * 1024**2, "fetch_max_wait_ms": 1500}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
FETCH_SETTLE = CONSUMER_SETTINGS["fetch_max_wait_ms"] / 1000 + 0.1


@dataclass
class Throughput:
    """Ticks consumed over the summed catch-up time of the timed rounds."""

    ticks: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    rounds: int = 0
    load_average: list[float] = field(default_factory=list)

    @property
    def ticks_per_s(self) -> float:
        return self.ticks / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {
            "ticks_per_s": round(self.ticks_per_s), "ticks": self.ticks,
            "seconds": round(self.seconds, 3), "rounds": self.rounds,
            "cpu_share": round(self.cpu_seconds / self.seconds, 3) if self.seconds else None,
            "cpu_us_per_tick": (round(self.cpu_seconds / self.ticks * 1e6, 2)
                                if self.ticks else None),
            "load_average": self.load_average,
        }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    """The partitions of `topic`, once the consumer's metadata knows them (a worker that
    just started may take a few seconds to declare its output topics)."""
    for _ in range(300):
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return parts
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic} has no partitions")


async def ceiling_aiokafka(bootstrap: str, items: Iterator[Item], total: int, chunk: int,
                           topic: str = "bench.aiokafka") -> Throughput:
    """Ceiling A: a raw aiokafka loop in this process that parses every message."""
    result = Throughput()
    async with Producer(bootstrap) as producer:
        await producer.touch(topic)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                    **CONSUMER_SETTINGS)
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in sorted(await partitions(consumer, topic))]
            consumer.assign(tps)
            await consumer.seek_to_end(*tps)
            while result.ticks < total:
                consumer.pause(*tps)
                stopped = time.monotonic()
                batch = take(items, min(chunk, total - result.ticks))
                if not batch:
                    break
                await producer.send_all(topic, batch)
                ends = {tp: end for tp, end in (await consumer.end_offsets(tps)).items()}
                left = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
                await _settle(stopped)
                consumer.resume(*tps)
                started, cpu = time.perf_counter(), time.process_time()
                ticks = 0
                while left:
                    for tp, messages in (await consumer.getmany(timeout_ms=1000)).items():
                        for message in messages:
                            for frame in split_frames(message.value, message.headers):
                                try:
                                    ticks += len(parse(frame))
                                except Rejected:
                                    pass
                        if messages and messages[-1].offset + 1 >= ends[tp]:
                            left.discard(tp)
                result.seconds += time.perf_counter() - started
                result.cpu_seconds += time.process_time() - cpu
                result.ticks += ticks
                result.rounds += 1
        finally:
            await consumer.stop()
    result.load_average = [round(x, 2) for x in os.getloadavg()]
    return result


async def backlog_rounds(producer: Producer, topic: str, items: Iterator[Item], total: int,
                         chunk: int, pid: int, progress: Callable[[], Awaitable[int]], *,
                         warmup: int, poll: float = 0.05, timeout: float = 120.0,
                         after_warmup: Callable[[], object] | None = None) -> Throughput:
    """Throughput of the consumer process `pid`; `progress()` says how many ticks it took.

    A first round of `warmup` messages is not timed: the consumer joins its group,
    and the worker loads its model, in it.
    """
    result = Throughput()
    target = await progress() + await producer.send_all(topic, take(items, warmup))
    await until(progress, target, timeout, poll)
    if after_warmup is not None:
        after_warmup()
    try:
        while result.ticks < total:
            os.kill(pid, signal.SIGSTOP)
            stopped = time.monotonic()
            batch = take(items, min(chunk, total - result.ticks))
            if not batch:
                break
            sent = await producer.send_all(topic, batch)
            target += sent
            await _settle(stopped)
            cpu = cpu_seconds(pid)
            os.kill(pid, signal.SIGCONT)
            started = time.perf_counter()
            if result.seconds:  # poll (which costs the worker a /metrics scrape) near the end only
                await asyncio.sleep(0.8 * sent / result.ticks_per_s)
            await until(progress, target, timeout, poll)
            result.seconds += time.perf_counter() - started
            result.cpu_seconds += cpu_seconds(pid) - cpu
            result.ticks += sent
            result.rounds += 1
    finally:
        os.kill(pid, signal.SIGCONT)
    result.load_average = [round(x, 2) for x in os.getloadavg()]
    return result


def set_fetch_max_wait(ms: int) -> None:
    """Ceiling A's fetch wait, the workers' VOLSPIKE_FETCH_MAX_WAIT_MS."""
    global FETCH_SETTLE
    CONSUMER_SETTINGS["fetch_max_wait_ms"] = ms
    FETCH_SETTLE = ms / 1000 + 0.1


async def _settle(stopped: float) -> None:
    await asyncio.sleep(max(0.0, stopped + FETCH_SETTLE - time.monotonic()))


async def until(progress: Callable[[], Awaitable[int]], target: int, timeout: float,
                poll: float) -> None:
    """Wait until `progress()` reaches `target`."""
    deadline = time.monotonic() + timeout
    while (done := await progress()) < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the consumer took {done} of {target} ticks in {timeout} s")
        await asyncio.sleep(poll)
