"""Feed the synthetic market into ticks.raw (or an NDJSON file)."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from tqdm import tqdm

from app.produce import RawPublisher
from models.simulator import Market


async def simulate_to_broker(
    market: Market, seconds: int | None, speed: float | None
) -> dict:
    started = time.monotonic()
    first = None
    async with RawPublisher("simulate") as publisher:
        with tqdm(unit="msg", file=sys.stderr, desc="simulate", disable=seconds is None) as bar:
            for ts, _product, raw in market.messages(seconds):
                if speed is not None:
                    first = ts if first is None else first
                    ahead = (ts - first) / speed - (time.monotonic() - started)
                    if ahead > 0:
                        await publisher.flush()
                        await asyncio.sleep(ahead)
                await publisher.publish(raw)
                bar.update()
    return dict(publisher.counts)


def simulate_to_file(market: Market, path: Path, seconds: int) -> int:
    n = 0
    with open(path, "wb") as fh:
        for _ts, _product, raw in market.messages(seconds):
            fh.write(raw + b"\n")
            n += 1
    return n
