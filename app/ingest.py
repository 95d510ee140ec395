"""Live Coinbase Advanced Trade WebSocket → ticks.raw.

Channels ticker, market_trades and heartbeats. Reconnects with exponential
backoff and full jitter, resubscribes, treats `heartbeat_timeout` seconds of
silence as a dead connection, and logs and counts gaps in `sequence_num`.
With `record`, every raw message is also appended to an NDJSON file.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from pathlib import Path

import orjson
import prometheus_client
import websockets

from app import metrics
from app.produce import RawPublisher
from app.settings import settings
from models.simulator import Market

log = logging.getLogger("volspike.ingest")

CHANNELS = ("ticker", "market_trades", "heartbeats")


def subscriptions(products: list[str]) -> list[bytes]:
    return [
        orjson.dumps({"type": "subscribe", "product_ids": products, "channel": channel})
        for channel in CHANNELS
    ]


class Ingester:
    def __init__(
        self,
        url: str,
        products: list[str],
        publisher: RawPublisher,
        *,
        heartbeat_timeout: float = 10.0,
        record: Path | None = None,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self.url = url
        self.products = products
        self.publisher = publisher
        self.heartbeat_timeout = heartbeat_timeout
        self.record = record
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.connected_once = asyncio.Event()
        self.gaps = 0
        self.reconnects = 0
        self._last_seq: int | None = None
        self._subscribed = False

    def _check_sequence(self, raw: bytes) -> None:
        try:
            seq = orjson.loads(raw).get("sequence_num")
        except (orjson.JSONDecodeError, AttributeError):
            return
        if not isinstance(seq, int):
            return
        last = self._last_seq
        if last is not None and seq != last + 1:
            self.gaps += 1
            metrics.SEQUENCE_GAPS.inc()
            if seq > last:
                log.warning("sequence gap: %d → %d (%d missing)", last, seq, seq - last - 1)
            else:
                log.warning("sequence out of order: %d after %d", seq, last)
        self._last_seq = seq

    async def run(self) -> None:
        attempt = 0
        # unbuffered: a killed ingester has written every message it received
        sink = open(self.record, "ab", buffering=0) if self.record else None  # noqa: SIM115
        try:
            while True:
                self._subscribed = False
                try:
                    await self._session(sink)
                except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                    log.warning("feed %s: %s", self.url, exc or type(exc).__name__)
                metrics.INGEST_CONNECTED.set(0)
                if self._subscribed:
                    attempt = 0  # the backoff restarts after a connection that worked
                delay = random.uniform(0, min(self.backoff_max, self.backoff_base * 2**attempt))
                attempt += 1
                self.reconnects += 1
                metrics.INGEST_RECONNECTS.inc()
                log.info("reconnecting in %.1f s (attempt %d)", delay, attempt)
                await asyncio.sleep(delay)
        finally:
            if sink:
                sink.close()

    async def _session(self, sink) -> None:
        async with websockets.connect(self.url, open_timeout=10, max_size=2**22) as ws:
            for message in subscriptions(self.products):
                await ws.send(message)
            self._last_seq = None  # sequence numbers restart with each connection
            metrics.INGEST_CONNECTED.set(1)
            self._subscribed = True
            self.connected_once.set()
            log.info("connected to %s, subscribed to %s", self.url, ",".join(self.products))
            while True:
                raw = await asyncio.wait_for(ws.recv(), timeout=self.heartbeat_timeout)
                if isinstance(raw, str):
                    raw = raw.encode()
                if sink:
                    sink.write(raw + b"\n")
                self._check_sequence(raw)
                await self.publisher.publish(raw)


async def ingest(
    url: str,
    products: list[str],
    *,
    heartbeat_timeout: float,
    record: Path | None,
    fallback_after: float,
) -> None:
    """Run the live feed; with `fallback_after` > 0, simulate when it never connects."""
    if settings.ingest_metrics_port:
        # the worker serves its metrics on Faust web; the ingester has no web server
        prometheus_client.start_http_server(settings.ingest_metrics_port, settings.web_host)
        log.info("metrics on http://%s:%d/metrics", settings.web_host,
                 settings.ingest_metrics_port)
    async with RawPublisher("coinbase") as publisher:
        ingester = Ingester(
            url, products, publisher, heartbeat_timeout=heartbeat_timeout, record=record
        )
        task = asyncio.create_task(ingester.run())
        if fallback_after > 0:
            try:
                await asyncio.wait_for(ingester.connected_once.wait(), fallback_after)
            except TimeoutError:
                task.cancel()
                log.warning(
                    "Coinbase (%s) not reachable within %.0f s: feeding the simulator instead",
                    url, fallback_after,
                )
                publisher.source = "simulate"
                await _simulate_live(publisher, products)
                return
        await task


async def _simulate_live(publisher: RawPublisher, products: list[str]) -> None:
    market = Market(products, seed=int(time.time()))
    for ts, _product, raw in market.messages():
        ahead = ts - time.time()
        if ahead > 0:
            await publisher.flush()
            await asyncio.sleep(ahead)
        await publisher.publish(raw)
