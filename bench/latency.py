"""Processing latency: closing tick appended to ticks.raw → its score appended to scores.

Ticks go out open loop at a fixed rate. A tick's append time is taken as the
wall time its produce ack arrives (ticks.raw records carry CreateTime = event
time, set by the source, so their record timestamp says nothing about when
they were appended; the embedded broker cannot be configured for
LogAppendTime). A score's append time is its record timestamp: CreateTime,
which the worker's producer stamps with its wall clock when it sends it.
Which tick closes which bar comes from the worker's own `BarBuilder`, fed
the same ticks in the same order.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import numpy as np
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from app.records import window_id
from bench.feed import Item, Producer
from bench.throughput import partitions
from models.bars import DEFAULT_GRACE_SECONDS, BarBuilder
from models.ticks import Rejected, parse


async def closing_latency(bootstrap: str, items: Iterator[Item], rate: float,
                          seconds: float, settle: float = 3.0) -> dict:
    """p50/p95/p99 in ms of closing-tick ack → score timestamp, at `rate` ticks/s."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                fetch_max_wait_ms=20)
    await consumer.start()
    stamps: dict[str, int] = {}
    try:
        tps = [TopicPartition("scores", p)
               for p in sorted(await partitions(consumer, "scores"))]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the end offsets now, before the ticks go out
            await consumer.position(tp)
        stop = asyncio.Event()

        async def collect() -> None:
            while not stop.is_set():
                for messages in (await consumer.getmany(timeout_ms=100)).values():
                    for message in messages:
                        stamps[orjson.loads(message.value)["id"]] = message.timestamp

        collector = asyncio.create_task(collect())
        async with Producer(bootstrap) as producer:
            sent = await producer.send_paced("ticks.raw", items, rate, seconds)
        closers = _closing_acks(sent)
        for _ in range(int(settle * 10)):
            if all(id_ in stamps for id_ in closers):
                break
            await asyncio.sleep(0.1)
        stop.set()
        await collector
    finally:
        await consumer.stop()
    ms = np.asarray([stamps[i] - closers[i] * 1000 for i in closers if i in stamps])
    out = {"rate": rate, "seconds": seconds, "messages": len(sent),
           "ticks": sum(item.ticks for item, _ in sent), "bars_closed": len(closers),
           "scored": int(ms.size), "load_average": [round(x, 2) for x in os.getloadavg()]}
    if ms.size:
        out.update({f"p{q}": round(float(np.percentile(ms, q)), 2) for q in (50, 95, 99)})
        out["max"] = round(float(ms.max()), 2)
    return out


def _closing_acks(sent: list[tuple[Item, list[float]]]) -> dict[str, float]:
    """Score id → ack wall time of the tick that closed its bar."""
    builders: dict[str, BarBuilder] = {}
    closers: dict[str, float] = {}
    for item, cell in sent:
        try:
            ticks = parse(item.value)
        except Rejected:
            continue
        for tick in ticks:
            builder = builders.get(tick.product)
            if builder is None:
                # the worker's first bar of this phase may close on a tick we never saw
                # as a closer: only bars this builder closes are matched
                builder = builders[tick.product] = BarBuilder(
                    tick.product, grace=DEFAULT_GRACE_SECONDS)
            for bar in builder.feed(tick)[1]:
                closers[window_id(bar.product, bar.end)] = cell[0]
    return closers
