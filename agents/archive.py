"""scores → the Parquet archive (models/archive.py), and the live-quality buffers.

Scores are held unacknowledged until the file holding them is complete on
disk (written under a temporary name, fsynced, renamed), then acked in
arrival order, so offsets commit only past archived rows: after a crash the
unarchived scores are delivered again (at-least-once; readers dedupe by id).
A file is rolled when `VOLSPIKE_ARCHIVE_ROLL_ROWS` rows are buffered or the
oldest is `VOLSPIKE_ARCHIVE_ROLL_SECONDS` old.

Every scored window also passes through here once, in order per product,
which makes this the one place that feeds the live PR-AUC (`live`).
"""

from __future__ import annotations

import asyncio
import logging
import time

from faust.types import TP, EventT

from app import metrics
from app.core import app, scores_topic
from app.settings import settings
from models import archive
from models.bars import Bar
from models.live import LiveQuality

log = logging.getLogger(__name__)

live = LiveQuality(settings.live_quality_seconds)


class Archiver:
    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.events: list[EventT] = []
        self.oldest: float | None = None  # monotonic time of the oldest buffered row
        #: partitions revoked while a batch was being written: its events there stay unacked
        self.revoked: set[TP] = set()
        self._lock = asyncio.Lock()

    async def add(self, event: EventT) -> None:
        score = event.value
        if score.bar is not None:  # None: a score from a worker older than the archive
            self.rows.append(archive.row(score.asdict()))
            live.observe(Bar.from_dict(score.bar), score.features, score.probability)
        self.events.append(event)
        if self.oldest is None:
            self.oldest = time.monotonic()
        if len(self.rows) >= settings.archive_roll_rows:
            await self.flush()

    def due(self) -> bool:
        return self.oldest is not None and (
            time.monotonic() - self.oldest >= settings.archive_roll_seconds)

    async def flush(self) -> None:
        """Write the buffered rows as complete files, then ack their scores in order."""
        async with self._lock:
            rows, events = self.rows, self.events
            if not events:
                return
            self.rows, self.events, self.oldest = [], [], None
            self.revoked = set()
            try:
                written = await asyncio.to_thread(archive.write, settings.archive_dir, rows)
            except OSError as exc:  # a full disk must not stop scoring: retry next roll
                metrics.ARCHIVE_ERRORS.inc()
                log.error("archive write to %s failed (%s); retrying with the next roll",
                          settings.archive_dir, exc)
                ids = {e.value.id for e in events if e.message.tp not in self.revoked}
                self.rows = [r for r in rows if r["id"] in ids] + self.rows
                self.events = [e for e in events if e.message.tp not in self.revoked] + self.events
                self.oldest = time.monotonic()
                return
            metrics.ARCHIVE_ROWS.inc(len(rows))
            metrics.ARCHIVE_FILES.inc(len(written))
            for event in events:
                if event.message.tp not in self.revoked:  # else it is delivered again
                    event.ack()

    def on_revoked(self, revoked: set[TP]) -> None:
        """Drop what we buffered from partitions we lose: it is redelivered to the new owner."""
        self.revoked |= revoked
        keep = [i for i, e in enumerate(self.events) if e.message.tp not in revoked]
        if len(keep) == len(self.events):
            return
        events = [self.events[i] for i in keep]
        ids = {e.value.id for e in events}
        self.rows = [r for r in self.rows if r["id"] in ids]
        lost = {e.value.product for e in self.events if e.message.tp in revoked}
        self.events = events
        if not events:
            self.oldest = None
        live.forget(lost)


archiver = Archiver()


@app.agent(scores_topic)
async def archive_scores(stream):
    async for event in stream.noack().events():
        await archiver.add(event)


@app.timer(interval=min(1.0, settings.archive_roll_seconds))
async def roll_archive() -> None:
    if archiver.due():
        await archiver.flush()


@app.on_partitions_revoked.connect
async def _on_revoked(app, revoked: set[TP], **kwargs) -> None:
    archiver.on_revoked(revoked)
