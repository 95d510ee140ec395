"""A live stack for the web, dashboard and monitoring tests, started once for tests/app.

One broker and one worker serving the session's trained champion, fed by the
simulator at 15x (about two minutes of wall time), so the browser and
Prometheus see it while it runs; the threshold is lowered so that alerts
surely fire within that time. Beside it the ingester, whose Coinbase URL is a
closed local port, falls back to simulating one more product live and serves
its own metrics, and a few malformed lines reach the dead-letter topic.
Everything is killed at the end, pass or fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass

import pytest

from tests.stack import ROOT, Stack, Worker, free_port, http_get, wait_until

FEED_SECONDS = 1800
FEED_SPEED = 15
PRODUCTS = ("BTC-USD", "ETH-USD", "SOL-USD")
LIVE_PRODUCT = "XRP-USD"
GARBAGE = b'{"channel":"ticker","timestamp":\n{"channel":"level2","events":[]}\n'


@dataclass
class Live:
    stack: Stack
    worker: Worker
    ingest_metrics: str

    def get(self, path: str) -> tuple[int, dict]:
        status, body = http_get(self.worker.url + path, timeout=10)
        return status, json.loads(body)

    def post(self, path: str, body: bytes) -> tuple[int, dict]:
        request = urllib.request.Request(self.worker.url + path, data=body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def cli(self, args: list[str], timeout: float = 60) -> str:
        """Run `python -m app ARGS` against the live broker; its stdout."""
        done = subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=self.stack.env,
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def wait_for_alerts(self, timeout: float = 180) -> list[dict]:
        return wait_until("alerts on /api/alerts", lambda: self.get("/api/alerts")[1]["alerts"],
                          timeout, self.worker)


@pytest.fixture(scope="package")  # stopped when tests/app is done: it costs CPU
def live(tmp_path_factory, registry):
    uri, artifacts = registry
    stack = Stack(tmp_path_factory.mktemp("live"), uri, artifacts)
    try:
        stack.start_broker()
        worker = stack.start_worker(env={
            "VOLSPIKE_ALERT_THRESHOLD": "0.2", "VOLSPIKE_ALERT_COOLDOWN_SECONDS": "30",
            # the drift timer and the archive it reads, at test pace
            "VOLSPIKE_DRIFT_INTERVAL_SECONDS": "3", "VOLSPIKE_ARCHIVE_ROLL_SECONDS": "1",
        })
        stack.spawn("feed", [
            "simulate", "--products", ",".join(PRODUCTS), "--seconds", str(FEED_SECONDS),
            "--start", str(int(time.time()) - FEED_SECONDS), "--speed", str(FEED_SPEED),
        ])
        port = free_port()
        stack.spawn("ingest", [
            "ingest", "--products", LIVE_PRODUCT, "--fallback-after", "2",
        ], {"VOLSPIKE_COINBASE_WS_URL": f"ws://127.0.0.1:{free_port()}",
            "VOLSPIKE_INGEST_METRICS_PORT": str(port)})
        garbage = stack.tmp / "garbage.ndjson"
        garbage.write_bytes(GARBAGE)
        stack.run(["replay", str(garbage), "--max"])
        live = Live(stack, worker, f"http://127.0.0.1:{port}/metrics")

        def every_product() -> bool:
            found = {p["product"] for p in live.get("/api/products")[1]["products"]}
            return found >= {*PRODUCTS, LIVE_PRODUCT}

        wait_until("scores of every product", every_product, 90, worker)
        yield live
    finally:
        stack.close()
