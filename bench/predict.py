"""POST /predict latency under a steady open-loop load (`make bench-predict`).

Requests leave on a fixed schedule (`--rate` per second), whatever the
replies do, and each latency is measured from its scheduled time, so a slow
reply cannot hide the queueing it causes (no coordinated omission). Without
`--url` it starts its own embedded broker and a worker serving a freshly
trained champion in a temp folder, and kills them at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np

from models.features import FEATURES


def features(rng: random.Random) -> dict[str, float]:
    return {name: rng.uniform(0.0, 2.0) * (1e-4 if name.startswith("rv_") else 1.0)
            for name in FEATURES}


async def load(url: str, rate: float, seconds: float, rows: int) -> dict:
    rng = random.Random(1)
    bodies = [json.dumps(features(rng) if rows == 1 else [features(rng) for _ in range(rows)])
              for _ in range(64)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(body: str, due: float) -> None:
            async with session.post(url + "/predict", data=body,
                                    headers={"Content-Type": "application/json"}) as reply:
                await reply.read()
            latencies.append(time.perf_counter() - due)
            statuses[reply.status] = statuses.get(reply.status, 0) + 1

        for i in range(20):  # warm up: connections, the model's first call
            await one(bodies[i % len(bodies)], time.perf_counter())
        latencies.clear()
        statuses.clear()
        tasks, start, n = [], time.perf_counter(), int(rate * seconds)
        for i in range(n):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(bodies[i % len(bodies)], due)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    ms = np.asarray(latencies) * 1000
    return {
        "rows_per_request": rows, "target_rate": rate, "requests": n,
        "achieved_rate": round(n / elapsed, 1), "statuses": statuses,
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "max_ms": round(float(ms.max()), 2),
    }


def own_worker(tmp: Path):
    """A broker and a worker with a trained champion; returns (stack, url)."""
    from tests.stack import Stack

    uri, artifacts = f"sqlite:///{tmp / 'mlflow.db'}", tmp / "artifacts"
    stack = Stack(tmp, uri, artifacts)
    stack.run(["train", "--simulated", "1800"], env={"VOLSPIKE_DATA_DIR": str(tmp)})
    stack.start_broker()
    return stack, stack.start_worker().url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running worker (default: start one)")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    stack = None
    with tempfile.TemporaryDirectory(prefix="volspike-bench-") as tmp:
        try:
            url = args.url
            if url is None:
                stack, url = own_worker(Path(tmp))
            results = [
                asyncio.run(load(url, args.rate, args.seconds, rows=1)),
                asyncio.run(load(url, 10.0, min(args.seconds, 10.0), rows=1000)),
            ]
        finally:
            if stack is not None:
                stack.close()
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    for result in results:
        print(json.dumps({**result, "machine": machine}))


if __name__ == "__main__":
    main()
