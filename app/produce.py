"""Publishing raw feed messages to ticks.raw, shared by ingest, replay and simulate."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from app.kafka_auth import aiokafka_auth
from app.settings import settings
from models.ticks import route

log = logging.getLogger(__name__)

RAW_TOPIC = "ticks.raw"
#: names the publisher (coinbase, replay, simulate) so the worker counts ticks per source
SOURCE_HEADER = "source"
#: on a message carrying several feed messages: how many, separated by b"\n"
FRAMES_HEADER = "frames"
SEPARATOR = b"\n"


def header(headers, name: str) -> bytes | None:
    """A record header's value: Faust gives headers as a dict or as (key, value) pairs."""
    if headers:
        items = headers.items() if isinstance(headers, dict) else headers
        for key, value in items:
            if key == name:
                return value
    return None


def split_frames(value: bytes, headers) -> list[bytes]:
    """The feed messages one ticks.raw message carries (one, unless FRAMES_HEADER says)."""
    if isinstance(value, bytes | bytearray) and header(headers, FRAMES_HEADER) is not None:
        return value.split(SEPARATOR)
    return [value]


#: a backlog's batches: at most this many feed messages, and about this many bytes (Kafka's
#: default message.max.bytes is 1 MB); bigger messages cost the worker less per tick
MAX_FRAMES = 1000
MAX_BYTES = 256 * 1024


class Batcher:
    """Groups one product's feed messages into batches of at most `max_frames` messages and
    `max_bytes` bytes (a single larger message goes alone)."""

    def __init__(self, max_frames: int = MAX_FRAMES, max_bytes: int = MAX_BYTES) -> None:
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        #: key → [event time of the first frame, frames, bytes] not sent yet
        self.pending: dict[str, list] = {}

    def add(self, key: str, ts: float, data, size: int | None = None,
            ) -> list[tuple[str, float, list]]:
        """Queue one message (`size` bytes: its length unless given); the batches that are
        full come back, oldest first, to be sent now."""
        size = len(data) if size is None else size
        out = []
        pending = self.pending.get(key)
        if pending is not None and pending[2] + size > self.max_bytes:
            out.append(self._pop(key))
            pending = None
        if pending is None:
            pending = self.pending[key] = [ts, [], 0]
        pending[1].append(data)
        pending[2] += size + len(SEPARATOR)
        if len(pending[1]) >= self.max_frames or pending[2] >= self.max_bytes:
            out.append(self._pop(key))
        return out

    def _pop(self, key: str) -> tuple[str, float, list]:
        ts, frames, _ = self.pending.pop(key)
        return key, ts, frames

    def drain(self) -> list[tuple[str, float, list]]:
        """Every batch still pending, emptied."""
        pending, self.pending = self.pending, {}
        return [(key, ts, frames) for key, (ts, frames, _) in pending.items()]


def headers(source: str, frames: int) -> list[tuple[str, bytes]]:
    """The headers of a ticks.raw message carrying `frames` feed messages."""
    out = [(SOURCE_HEADER, source.encode())]
    if frames > 1:
        out.append((FRAMES_HEADER, str(frames).encode()))
    return out


class RawPublisher:
    """Keyed by product, Kafka timestamp = event time; counts what it sent.

    Feed messages of one product that are waiting together go out as one
    Kafka message (at most `max_frames` and about `max_bytes`, joined by a newline, which compact
    JSON never contains): a replay or a backlog then costs the worker one
    message per batch instead of one per tick, while a live feed, which
    rarely has two messages pending within `linger` seconds, still sends them
    one by one. Batches are sent in the order they were closed, so each
    product's messages keep their order.
    """

    def __init__(self, source: str, *, connect_timeout: float = 60.0, linger: float = 0.005,
                 max_frames: int = MAX_FRAMES, max_bytes: int = MAX_BYTES) -> None:
        self.source = source
        self.connect_timeout = connect_timeout
        self.linger = linger
        self.counts: Counter = Counter()
        self.last_ts: float | None = None
        self._producer: AIOKafkaProducer | None = None
        self._inflight: list[asyncio.Future] = []
        self._batcher = Batcher(max_frames, max_bytes)
        self._lock = asyncio.Lock()
        self._lingering: asyncio.Task | None = None

    async def __aenter__(self) -> RawPublisher:
        deadline = asyncio.get_running_loop().time() + self.connect_timeout
        delay = 0.5
        while True:
            # re-read each time: the embedded broker may publish its address meanwhile
            bootstrap = settings.current_bootstrap()
            producer = AIOKafkaProducer(
                bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                max_batch_size=256 * 1024, max_request_size=4 * 1024 * 1024,
                enable_idempotence=True, **aiokafka_auth(settings),
            )
            try:
                await producer.start()
                break
            except KafkaConnectionError as exc:
                await producer.stop()
                if asyncio.get_running_loop().time() + delay > deadline:
                    raise SystemExit(f"broker {bootstrap} unreachable: {exc}") from None
                log.warning("broker %s not reachable yet (%s); retrying", bootstrap, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self._producer = producer
        self._lingering = asyncio.create_task(self._linger_loop())
        return self

    async def __aexit__(self, *exc) -> None:
        self._lingering.cancel()
        await self.flush()
        await self._producer.stop()

    async def publish(self, raw: bytes) -> None:
        """Route one raw message (skip control, split multi-product) and queue it."""
        from app import metrics

        routed = route(raw)
        if not routed:
            self.counts["control"] += 1
            return
        for key, ts, data in routed:
            metrics.INGEST_MESSAGES.labels(self.source).inc()
            if ts is None or key is None or SEPARATOR in data:
                # malformed, or not batchable: alone, unkeyed when malformed, as it came
                self.counts["malformed" if ts is None else key] += 1
                await self._send([(key, ts if ts is not None else self.last_ts, [data])])
                continue
            self.last_ts = ts
            self.counts[key] += 1
            full = self._batcher.add(key, ts, data)
            if full:
                await self._send(full)
        if len(self._inflight) >= 5000:
            await self._wait_inflight()

    async def flush(self) -> None:
        """Send what is pending and wait until the broker has it all."""
        await self._send_pending()
        await self._wait_inflight()

    async def _send_pending(self) -> None:
        if self._batcher.pending:
            await self._send(self._batcher.drain())

    async def _linger_loop(self) -> None:
        while True:
            await asyncio.sleep(self.linger)
            # shielded: cancelling this loop at exit must not drop a batch it has taken
            await asyncio.shield(self._send_pending())

    async def _send(self, batches: list[tuple[str | None, float | None, list[bytes]]]) -> None:
        # taken in call order (asyncio.Lock is FIFO), so batches leave in the order they closed
        async with self._lock:
            for key, ts, frames in batches:
                fut = await self._producer.send(
                    RAW_TOPIC,
                    value=SEPARATOR.join(frames),
                    key=key.encode() if key else None,
                    timestamp_ms=int(ts * 1000) if ts is not None else None,
                    headers=headers(self.source, len(frames)),
                )
                self._inflight.append(fut)

    async def _wait_inflight(self) -> None:
        if self._inflight:
            inflight, self._inflight = self._inflight, []
            await asyncio.gather(*inflight)
