"""The live ingester against a Coinbase-like WebSocket server that the test controls."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
import websockets

from app.produce import split_frames
from models.simulator import Market
from models.ticks import parse_time
from tests.stack import frames, read_topic, wait_until

pytestmark = pytest.mark.integration


GARBAGE = b"<html>502 Bad Gateway</html>"


class FakeFeed:
    """Advanced Trade over ws://127.0.0.1: per connection, one scripted behaviour.

    "drop": send a batch then close; "stall": send a batch then go silent;
    anything else: send a batch, then heartbeats until the test ends.
    """

    def __init__(self, script: list[str], batch: int = 40) -> None:
        self.script, self.batch = script, batch
        self.market = Market(["BTC-USD", "ETH-USD"], seed=3, start=time.time() - 120)
        self.messages = (raw for _ts, _p, raw in self.market.messages())
        self.sent: list[bytes] = []
        self.subscriptions: list[list[dict]] = []
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        self.port: int | None = None
        self.thread = threading.Thread(target=self.loop.run_until_complete,
                                       args=(self._serve(),), daemon=True)

    async def _serve(self) -> None:
        async with websockets.serve(self._handle, "127.0.0.1", 0) as server:
            self.port = server.sockets[0].getsockname()[1]
            await self.stop.wait()

    async def _handle(self, ws) -> None:
        try:
            await self._script(ws)
        except websockets.ConnectionClosed:
            pass  # the ingester hung up (heartbeat timeout, or the test ended)

    async def _script(self, ws) -> None:
        n = len(self.subscriptions)
        self.subscriptions.append([json.loads(await ws.recv()) for _ in range(3)])
        # like Coinbase, sequence numbers start again with every connection
        await ws.send(json.dumps({"channel": "subscriptions", "timestamp": "2026-01-01T00:00:00Z",
                                  "sequence_num": 0, "events": []}))
        for seq in range(1, self.batch + 1):
            if n == 0 and seq == self.batch // 2:
                continue  # a message lost upstream: a sequence gap
            if n == 0 and seq == self.batch // 3:
                self.sent.append(GARBAGE)  # the feed sends something that is not JSON
                await ws.send(GARBAGE.decode())
            message = json.loads(next(self.messages))
            message["sequence_num"] = seq
            raw = json.dumps(message).encode()
            self.sent.append(raw)
            await ws.send(raw.decode())
        behaviour = self.script[n] if n < len(self.script) else "steady"
        if behaviour == "drop":
            return
        while behaviour == "stall" or not self.stop.is_set():
            if behaviour != "stall":
                await ws.send(json.dumps({"channel": "heartbeats", "events": []}))
            await asyncio.sleep(0.5)

    def __enter__(self) -> FakeFeed:
        self.thread.start()
        wait_until("the fake feed", lambda: self.port, 10)
        return self

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(5)


def test_ingester_reconnects_resubscribes_and_loses_nothing(stack, tmp_path):
    stack.start_broker()
    record = tmp_path / "recording.ndjson"
    with FakeFeed(["drop", "stall"]) as feed:
        ingest = stack.spawn("ingest", [
            "ingest", "--products", "BTC-USD,ETH-USD", "--record", str(record),
            "--url", f"ws://127.0.0.1:{feed.port}",
        ], {"VOLSPIKE_HEARTBEAT_TIMEOUT": "2"})
        # drop → reconnect; stall → heartbeat timeout → reconnect; then steady
        wait_until("three connections", lambda: len(feed.subscriptions) >= 3, 60, ingest)
        wait_until("every message recorded", lambda: record.exists() and sum(
            1 for line in record.read_bytes().splitlines() if b'"subscriptions"' not in line
            and b'"heartbeats"' not in line) >= len(feed.sent), 30, ingest)
        wait_until("every message on ticks.raw", lambda: len(
            frames(read_topic(stack.bootstrap, "ticks.raw"))) >= len(feed.sent), 30, ingest)
        ingest.stop()

    for subs in feed.subscriptions:
        assert sorted(s["channel"] for s in subs) == ["heartbeats", "market_trades", "ticker"]
        assert all(s["type"] == "subscribe" and s["product_ids"] == ["BTC-USD", "ETH-USD"]
                   for s in subs)
    published = read_topic(stack.bootstrap, "ticks.raw")
    assert sorted(frame for _, frame in frames(published)) == sorted(feed.sent)
    recorded = [line for line in record.read_bytes().splitlines() if b'"channel": "ticker"' in line
                or b'"channel": "market_trades"' in line or line == GARBAGE]
    assert recorded == feed.sent
    [garbage] = [m for m in published if m.value() == GARBAGE]
    assert garbage.key() is None  # unkeyed: the worker dead-letters it with its reason
    for m, first in ((m, split_frames(m.value(), m.headers())[0]) for m in published):
        if m is garbage:
            continue
        body = json.loads(first)
        product = (body["events"][0].get("tickers") or body["events"][0].get("trades"))[0]
        assert m.key().decode() == product["product_id"]
        # Kafka timestamp = exchange event time (ms) of the message's first feed message
        assert abs(m.timestamp()[1] / 1000 - parse_time(body["timestamp"])) < 0.002
    log = ingest.log.read_text()
    assert log.count("sequence gap") == 1 and "out of order" not in log
    assert log.count("reconnecting in") >= 2
