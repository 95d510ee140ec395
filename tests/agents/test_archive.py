"""The in-process archiver: rows reach the disk before their ticks may be acked."""

from __future__ import annotations

import math
import time

from faust.types import TP

from tests.agents.test_windows import metric
from tests.models.test_archive import score_messages, simulated_bars


def test_a_failed_write_keeps_the_rows_and_holds_their_ticks(run, monkeypatch, tmp_path):
    from agents import archive as archiver_module
    from models import archive

    rows = [archive.row(m) for m in score_messages(simulated_bars(120))]
    archiver = archiver_module.Archiver()
    released: list[set] = []
    archiver.on_written = released.append
    tp, other = TP("ticks.raw", 7), TP("ticks.raw", 8)
    archiver.add(tp, 40, rows[:10])
    archiver.add(tp, 41, rows[10:20])
    archiver.add(other, 5, rows[20:30])
    assert (archiver.holds(tp), archiver.holds(other)) == (40, 5)

    def full_disk(root, rows):
        raise OSError(28, "No space left on device")

    errors = metric("volspike_archive_errors_total")
    monkeypatch.setattr(archive, "write", full_disk)
    run(archiver.flush())
    assert metric("volspike_archive_errors_total") == errors + 1
    assert released == [] and archiver.count == 30
    assert (archiver.holds(tp), archiver.holds(other)) == (40, 5)  # still unacked
    # no new attempt at every message: the next one waits a roll period
    assert archiver.retry_at > time.monotonic()
    archiver.add(tp, 42, rows[30:] * 200)
    assert archiver._task is None

    archiver.on_revoked({other})  # the new owner re-sends those windows
    written: list = []
    monkeypatch.setattr(archive, "write", lambda root, rows: written.extend(rows) or [tmp_path])
    run(archiver.flush())
    assert written[:20] == rows[:20] and released == [{tp}]
    assert archiver.holds(tp) == math.inf and archiver.count == 0
