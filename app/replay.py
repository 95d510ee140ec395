"""Replay recordings (both Coinbase formats) into ticks.raw, keeping event time."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from tqdm import tqdm

from app.produce import RawPublisher
from models.dataset import iter_messages
from models.ticks import Rejected, parse


def count_lines(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        with open(path, "rb") as fh:
            total += sum(1 for line in fh if line.strip())
    return total


def _event_time(raw: bytes) -> float | None:
    try:
        ticks = parse(raw)
    except Rejected:
        return None
    return ticks[0].ts if ticks else None


async def replay(paths: list[Path], speed: float | None) -> dict:
    """Publish every line; with `speed`, pace event time at `speed`× the wall clock."""
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise SystemExit(f"no such recording: {', '.join(missing)}")
    total = count_lines(paths)
    first_event = None
    started = time.monotonic()
    async with RawPublisher("replay") as publisher:
        with tqdm(total=total, unit="msg", file=sys.stderr, desc="replay") as bar:
            for raw in iter_messages(paths):
                if speed is not None:
                    ts = _event_time(raw)
                    if ts is not None:
                        if first_event is None:
                            first_event = ts
                        ahead = (ts - first_event) / speed - (time.monotonic() - started)
                        if ahead > 0:
                            await publisher.flush()
                            await asyncio.sleep(ahead)
                await publisher.publish(raw)
                bar.update()
    counts = dict(publisher.counts)
    counts["seconds"] = round(time.monotonic() - started, 3)
    return counts
