"""The benchmark's input: realistic raw messages, routed and produced like a real source.

The real recordings are looped, each loop shifted by the recording's span so
event time keeps increasing, and their sequence numbers and trade ids
shifted too so the worker drops nothing as a duplicate. Gaps longer than
`MAX_GAP` between (and inside) recordings are closed up first, so a loop lasts
hours of event time, not months, and stays in the past (the parser rejects
event times in the future). Messages go through `models.ticks.route`, the
routing every source uses, so a change of the message format carries over.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from app.produce import SEPARATOR, Batcher, headers
from models.dataset import iter_messages, recordings
from models.simulator import Market, iso
from models.ticks import Rejected, parse, parse_time, route

#: the linger of a live source, as `RawPublisher` has it (its batches are `Batcher`'s)
LINGER = 0.005
#: a silence longer than this (seconds of event time) is shortened to one second
MAX_GAP = 30.0
#: per loop: sequence numbers and trade ids move past anything the recordings hold
SEQ_SHIFT, TRADE_SHIFT = 10**13, 10**11


@dataclass(frozen=True, slots=True)
class Item:
    """One message as a source publishes it."""

    key: bytes | None
    ts_ms: int | None
    value: bytes
    ticks: int


def _event_times(paths: list[Path]) -> list[tuple[bytes, float]]:
    """(raw, event time with long gaps closed up) of every tick-carrying message."""
    out, hi, cut = [], None, 0.0
    for raw in iter_messages(paths):
        try:
            ticks = parse(raw)
        except Rejected:
            continue
        if not ticks:
            continue
        ts = ticks[0].ts
        if hi is not None and ts > hi + MAX_GAP:
            cut += ts - hi - 1.0
        hi = ts if hi is None else max(hi, ts)
        out.append((raw, ts - cut))
    return out


def _shifted(raw: bytes, ts: float, loop: int) -> bytes:
    msg = orjson.loads(raw)
    if "channel" in msg:  # Advanced Trade
        delta = ts - parse(raw)[0].ts
        msg["timestamp"] = iso(ts)
        if isinstance(msg.get("sequence_num"), int):
            msg["sequence_num"] += loop * SEQ_SHIFT
        for event in msg.get("events", []):
            for trade in event.get("trades", []):
                trade["time"] = iso(parse_time(trade["time"]) + delta)
                if isinstance(trade.get("trade_id"), int):
                    trade["trade_id"] += loop * TRADE_SHIFT
                else:
                    trade["trade_id"] = f"{trade['trade_id']}-{loop}"
    else:  # Exchange feed
        msg["time"] = iso(ts)
        if isinstance(msg.get("sequence"), int):
            msg["sequence"] += loop * SEQ_SHIFT
        if isinstance(msg.get("trade_id"), int):
            msg["trade_id"] += loop * TRADE_SHIFT
    return orjson.dumps(msg)


def looped_recordings(root: Path) -> Iterator[bytes]:
    """The recordings under `root` in event-time order, endlessly, shifted per loop."""
    base = _event_times(recordings([root]))
    if not base:
        raise SystemExit(f"no usable messages under {root}")
    span = base[-1][1] - base[0][1] + 1.0
    for loop in itertools.count():
        for raw, ts in base:
            yield _shifted(raw, ts + loop * span, loop)


def simulated(seed: int = 7) -> Iterator[bytes]:
    """The synthetic market, starting ten days ago (event time stays in the past)."""
    market = Market(seed=seed, start=time.time() - 10 * 86400)
    for _ts, _product, raw in market.messages(None):
        yield raw


def source(recordings_root: Path | None) -> tuple[str, Iterator[bytes]]:
    """The real recordings looped where present, the simulator otherwise."""
    if recordings_root is not None and recordings_root.is_dir():
        return f"recordings {recordings_root} looped", looped_recordings(recordings_root)
    return "simulator (no recordings found)", simulated()


def routed(messages: Iterable[bytes]) -> Iterator[Item]:
    """What a source publishes for each message (see `RawPublisher.publish`)."""
    for raw in messages:
        for key, ts, data in route(raw):
            try:
                n = len(parse(data))
            except Rejected:
                n = 0
            yield Item(key.encode() if key else None,
                       int(ts * 1000) if ts is not None else None, data, n)


async def _sleep_until(moment: float) -> None:
    delay = moment - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


def batched(items: list[Item]) -> list[tuple]:
    """(key, timestamp ms, frames) as `RawPublisher` sends a backlog: one product's
    messages together, malformed ones alone."""
    batcher, out = Batcher(), []
    for item in items:
        if item.key is None or item.ts_ms is None:
            out.append((item.key, item.ts_ms, [item.value]))
            continue
        out.extend(batcher.add(item.key, item.ts_ms, item.value))
    return out + batcher.drain()


def take(items: Iterator[Item], n: int) -> list[Item]:
    """The next `n` items."""
    return list(itertools.islice(items, n))


class Producer:
    """An aiokafka producer configured like `app.produce.RawPublisher`, any topic."""

    def __init__(self, bootstrap: str) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", linger_ms=5,
            max_batch_size=256 * 1024, enable_idempotence=True,
        )

    async def __aenter__(self) -> Producer:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self._producer.stop()

    async def touch(self, topic: str) -> None:
        """Make the broker auto-create `topic` (4 partitions) before a consumer subscribes."""
        await self._producer.partitions_for(topic)

    async def send_all(self, topic: str, items: list[Item]) -> int:
        """Send a backlog as a source does (batched per product) and wait for every ack;
        returns the ticks sent."""
        futures = [await self._send(topic, *batch) for batch in batched(items)]
        await asyncio.gather(*futures)
        return sum(item.ticks for item in items)

    async def _send(self, topic: str, key: bytes | None, ts_ms: int | None,
                    frames: list[bytes]) -> asyncio.Future:
        return await self._producer.send(topic, value=SEPARATOR.join(frames), key=key,
                                         timestamp_ms=ts_ms, headers=headers("bench", len(frames)))

    async def send_paced(self, topic: str, items: Iterator[Item], rate: float,
                         seconds: float, linger: float = LINGER,
                         ) -> list[tuple[Item, list[float]]]:
        """Open loop at `rate` messages/s, sent as a live `RawPublisher` sends them: what
        arrived within one `linger` goes out together, batched per product. Each item
        comes with a cell that its batch's ack fills with the wall time.

        The ack time stands for the append time: a record is appended between the
        produce request and its ack, and the ack is handled within a fraction of a
        millisecond at this rate.
        """
        sent: list[tuple[Item, list[float]]] = []
        futures = []
        batcher = Batcher()

        async def send(batches: list[tuple]) -> None:
            for key, ts_ms, pairs in batches:
                future = await self._send(topic, key, ts_ms, [item.value for item, _ in pairs])
                future.add_done_callback(
                    lambda _f, cells=[c for _, c in pairs]: [c.append(time.time()) for c in cells])
                futures.append(future)

        start, n = time.perf_counter(), int(rate * seconds)
        window_end = start + linger  # RawPublisher sends what is pending every `linger`
        for i, item in enumerate(itertools.islice(items, n)):
            due = start + i / rate
            while due >= window_end:
                await _sleep_until(window_end)
                await send(batcher.drain())
                window_end += linger
            await _sleep_until(due)
            pair: tuple[Item, list[float]] = (item, [])
            sent.append(pair)
            if item.key is None or item.ts_ms is None:
                await send([(item.key, item.ts_ms, [pair])])
            elif full := batcher.add(item.key, item.ts_ms, pair, len(item.value)):
                await send(full)
        await send(batcher.drain())
        await asyncio.gather(*futures)
        return sent
