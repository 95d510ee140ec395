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


class RawPublisher:
    """Keyed by product, Kafka timestamp = event time; counts what it sent."""

    def __init__(self, source: str, *, connect_timeout: float = 60.0) -> None:
        self.source = source
        self._headers = [(SOURCE_HEADER, source.encode())]
        self.connect_timeout = connect_timeout
        self.counts: Counter = Counter()
        self.last_ts: float | None = None
        self._producer: AIOKafkaProducer | None = None
        self._inflight: list[asyncio.Future] = []

    async def __aenter__(self) -> RawPublisher:
        deadline = asyncio.get_running_loop().time() + self.connect_timeout
        delay = 0.5
        while True:
            # re-read each time: the embedded broker may publish its address meanwhile
            bootstrap = settings.current_bootstrap()
            producer = AIOKafkaProducer(
                bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                max_batch_size=256 * 1024, enable_idempotence=True, **aiokafka_auth(settings),
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
        return self

    async def __aexit__(self, *exc) -> None:
        await self.flush()
        await self._producer.stop()

    async def publish(self, raw: bytes) -> None:
        """Route one raw message (skip control, split multi-product) and send it."""
        from app import metrics

        routed = route(raw)
        if not routed:
            self.counts["control"] += 1
            return
        for key, ts, data in routed:
            if ts is None:
                self.counts["malformed"] += 1
                ts = self.last_ts
            else:
                self.last_ts = ts
                self.counts[key] += 1
            fut = await self._producer.send(
                RAW_TOPIC,
                value=data,
                key=key.encode() if key else None,
                timestamp_ms=int(ts * 1000) if ts is not None else None,
                headers=self._headers,
            )
            self._inflight.append(fut)
            metrics.INGEST_MESSAGES.labels(self.source).inc()
        if len(self._inflight) >= 5000:
            await self.flush()

    async def flush(self) -> None:
        if self._inflight:
            await asyncio.gather(*self._inflight)
            self._inflight.clear()
