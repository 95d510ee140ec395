"""Scored windows → the Parquet archive (models/archive.py), fed in process.

The windows stage hands over each message's scored windows with the
partition and offset of the tick message that closed them. Those offsets
stay unacknowledged (agents/windows.py holds its acks below `holds`) until
the file holding the rows is complete on disk (temporary name, fsync,
rename), so offsets commit only past archived rows: after a crash the
windows since the commit are re-sent and archived again (at-least-once;
readers dedupe by id). A file is rolled when `VOLSPIKE_ARCHIVE_ROLL_ROWS`
rows are buffered or the oldest is `VOLSPIKE_ARCHIVE_ROLL_SECONDS` old, in
the background: a write never stalls the stream.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable

from faust.types import TP

from app import metrics
from app.core import app
from app.settings import settings
from models import archive

log = logging.getLogger(__name__)


class Archiver:
    def __init__(self) -> None:
        self.rows: dict[TP, list[dict]] = {}
        #: per partition, the lowest tick offset behind rows not yet on disk
        self.first: dict[TP, int] = {}
        self.writing: dict[TP, int] = {}  # the same, for the file being written
        self.count = 0
        self.oldest: float | None = None  # monotonic time of the oldest buffered row
        #: after a failed write, no new attempt before this (monotonic): one per roll period
        self.retry_at = 0.0
        #: called with the partitions whose rows just reached the disk (to ack their ticks)
        self.on_written: Callable[[set[TP]], None] = lambda tps: None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None

    def add(self, tp: TP, offset: int, rows: list[tuple]) -> None:
        """Rows of windows closed by the tick message at `offset` of `tp`."""
        if not rows:
            return
        self.rows.setdefault(tp, []).extend(rows)
        if offset < self.first.get(tp, math.inf):
            self.first[tp] = offset
        self.count += len(rows)
        if self.oldest is None:
            self.oldest = time.monotonic()
        if (self.count >= settings.archive_roll_rows and self._task is None
                and time.monotonic() >= self.retry_at):
            self._task = asyncio.ensure_future(self._roll())

    async def _roll(self) -> None:
        try:
            await self.flush()
        finally:
            self._task = None

    def holds(self, tp: TP) -> float:
        """The lowest tick offset of `tp` whose windows are not archived yet (inf: none)."""
        return min(self.first.get(tp, math.inf), self.writing.get(tp, math.inf))

    def due(self) -> bool:
        now = time.monotonic()
        return self.oldest is not None and now >= self.retry_at and (
            now - self.oldest >= settings.archive_roll_seconds)

    async def flush(self) -> None:
        """Write the buffered rows as complete files, then release their ticks' acks."""
        async with self._lock:
            if not self.count:
                return
            rows, self.rows = self.rows, {}
            self.writing, self.first = self.first, {}
            self.count, self.oldest = 0, None
            flat = [row for part in rows.values() for row in part]
            try:
                written = await asyncio.to_thread(archive.write, settings.archive_dir, flat)
            except Exception as exc:  # noqa: BLE001 - a full disk, or any failure: retry next roll
                metrics.ARCHIVE_ERRORS.inc()
                log.error("archive write to %s failed (%s); retrying with the next roll",
                          settings.archive_dir, exc)
                self.retry_at = time.monotonic() + settings.archive_roll_seconds
                for tp, part in rows.items():
                    if tp in self.writing:  # else revoked meanwhile: redelivered elsewhere
                        self.add(tp, self.writing[tp], part)
                self.writing = {}
                return
            done, self.writing = set(self.writing), {}
            metrics.ARCHIVE_ROWS.inc(len(flat))
            metrics.ARCHIVE_FILES.inc(len(written))
            self.on_written(done)

    def on_revoked(self, revoked: set[TP]) -> None:
        """Drop what we buffered from partitions we lose: the new owner re-sends it."""
        for tp in revoked:
            self.count -= len(self.rows.pop(tp, ()))
            self.first.pop(tp, None)
            self.writing.pop(tp, None)
        if not self.count:
            self.oldest = None


archiver = Archiver()


@app.timer(interval=min(1.0, settings.archive_roll_seconds))
async def roll_archive() -> None:
    if archiver.due():
        await archiver.flush()
