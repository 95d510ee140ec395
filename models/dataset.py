"""Recordings → bars → feature rows and labels, with exactly the worker's code.

Ticks go through the same `BarBuilder` and `History` as in the live agent,
product by product in file order, so a replayed recording produces the same
windows and features online and offline. The worker's Parquet archive
(`models.archive`) keeps whole bars, so its rows go through the same
`feature_frame` and give the same rows as the recording they came from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from models import archive
from models.bars import DEFAULT_GRACE_SECONDS, Bar, BarBuilder
from models.features import FEATURES, MAX_GAP_SECONDS, History, compute
from models.labels import future_rv
from models.ticks import Rejected, Tick, parse


@dataclass
class ReadStats:
    messages: int = 0
    ticks: int = 0
    control: int = 0
    rejected: Counter = field(default_factory=Counter)


def iter_messages(paths: Iterable[str | Path]) -> Iterator[bytes]:
    """Raw NDJSON lines of the recordings, in order (blank lines skipped)."""
    for path in paths:
        with open(path, "rb") as fh:
            for line in fh:
                line = line.strip()
                if line:
                    yield line


def recordings(paths: Iterable[str | Path]) -> list[Path]:
    """The NDJSON files under `paths` (files or folders), oldest first event first.

    Bars close in event time, so files must be read in time order: a later
    file read first would make every tick of an earlier one late.
    """
    files = []
    for path in map(Path, paths):
        files.extend(sorted(path.rglob("*.ndjson")) if path.is_dir() else [path])
    return sorted(files, key=_first_event_time)


def _first_event_time(path: Path) -> float:
    for tick in iter_ticks(iter_messages([path])):
        return tick.ts
    return float("inf")


def iter_ticks(messages: Iterable[bytes], stats: ReadStats | None = None) -> Iterator[Tick]:
    stats = stats if stats is not None else ReadStats()
    for raw in messages:
        stats.messages += 1
        try:
            ticks = parse(raw)
        except Rejected as exc:
            stats.rejected[exc.reason] += 1
            continue
        if not ticks:
            stats.control += 1
        stats.ticks += len(ticks)
        yield from ticks


def build_bars(ticks: Iterable[Tick], grace: float = DEFAULT_GRACE_SECONDS) -> dict[str, list[Bar]]:
    """Closed bars per product; the last open bar of each product is left out, as live."""
    builders: dict[str, BarBuilder] = {}
    bars: dict[str, list[Bar]] = {}
    for tick in ticks:
        builder = builders.get(tick.product)
        if builder is None:
            builder = builders[tick.product] = BarBuilder(tick.product, grace=grace)
            bars[tick.product] = []
        _, closed = builder.feed(tick)
        if closed:
            bars[tick.product].extend(closed)
    return bars


def segments(bars: list[Bar]) -> list[list[Bar]]:
    """Split a product's bars where the gap exceeds `MAX_GAP_SECONDS` (as `History` does)."""
    out: list[list[Bar]] = []
    for bar in bars:
        if not out or bar.start - out[-1][-1].start > MAX_GAP_SECONDS:
            out.append([])
        out[-1].append(bar)
    return out


def feature_frame(bars_by_product: dict[str, list[Bar]]) -> pd.DataFrame:
    """One row per closed bar: product, window_end, segment, features, future_rv."""
    rows = []
    for product, bars in bars_by_product.items():
        history = History()
        for seg_no, segment in enumerate(segments(bars)):
            labels = future_rv(segment)
            for bar, label in zip(segment, labels, strict=True):
                history.push(bar)
                rows.append((product, bar.end, seg_no, *compute(history), label))
    columns = ["product", "window_end", "segment", *FEATURES, "future_rv"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["window_end", "product"], kind="stable").reset_index(drop=True)


def load(paths: Iterable[str | Path], grace: float = DEFAULT_GRACE_SECONDS) -> pd.DataFrame:
    return feature_frame(build_bars(iter_ticks(iter_messages(paths)), grace=grace))


def archive_bars(roots: Iterable[str | Path], since: float | None = None,
                 until: float | None = None) -> dict[str, list[Bar]]:
    """Closed bars per product from one or more archives (window_end in [since, until))."""
    return merge_bars(*(archive.bars(archive.read(Path(root), since, until)) for root in roots))


def merge_bars(*sources: dict[str, list[Bar]]) -> dict[str, list[Bar]]:
    """Bars of several sources per product, by start; a second seen twice is kept once."""
    merged: dict[str, dict[int, Bar]] = {}
    for source in sources:
        for product, bars in source.items():
            merged.setdefault(product, {}).update((bar.start, bar) for bar in bars)
    return {product: [by_start[s] for s in sorted(by_start)]
            for product, by_start in merged.items()}


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows whose label horizon lies inside their segment."""
    return frame[np.isfinite(frame["future_rv"].to_numpy())].reset_index(drop=True)


def feature_matrix(frame: pd.DataFrame) -> np.ndarray:
    return frame[list(FEATURES)].to_numpy(dtype=np.float64)


__all__ = [
    "ReadStats",
    "archive_bars",
    "build_bars",
    "feature_frame",
    "feature_matrix",
    "iter_messages",
    "iter_ticks",
    "labelled",
    "load",
    "merge_bars",
    "recordings",
    "segments",
]
