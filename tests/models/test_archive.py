"""The Parquet archive: lossless bars, deduplication, and no half file after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pandas as pd
import pyarrow.parquet as pq

from models import archive, dataset
from models.features import FEATURES
from models.simulator import Market
from tests.stack import ROOT, wait_until


def simulated_bars(seconds: int, seed: int = 5) -> dict:
    messages = (raw for _t, _p, raw in Market(start=1.7e9, seed=seed).messages(seconds))
    return dataset.build_bars(dataset.iter_ticks(messages))


def score_messages(bars_by_product: dict) -> list[dict]:
    """What the worker publishes on `scores` for these bars (features recomputed offline)."""
    frame = dataset.feature_frame(bars_by_product)
    bars = {(b.product, b.end): b for bs in bars_by_product.values() for b in bs}
    out = []
    for record in frame.to_dict("records"):
        bar = bars[(record["product"], record["window_end"])]
        out.append({
            "id": f"{bar.product}:{bar.end}", "product": bar.product,
            "window_start": bar.start, "window_end": bar.end,
            "features": {name: record[name] for name in FEATURES},
            "probability": 0.25, "threshold": 0.5, "model_name": "m", "model_version": "1",
            "bar": bar.to_dict(),
        })
    return out


def test_archive_gives_back_the_same_training_rows(tmp_path):
    bars = simulated_bars(900)
    messages = score_messages(bars)
    rows = [archive.row(message) for message in messages]
    # several rolls, and at-least-once delivery: a chunk written twice
    for chunk in (rows[:700], rows[500:1400], rows[1400:]):
        archive.write(tmp_path, chunk)

    frame = archive.read(tmp_path)
    assert len(frame) == len(rows) and frame["id"].is_unique
    assert {p.parent.name for p in archive.files(tmp_path)} == {f"product={p}" for p in bars}
    assert archive.newest_window_end(tmp_path) == max(m["window_end"] for m in messages)
    pd.testing.assert_frame_equal(dataset.feature_frame(dataset.archive_bars([tmp_path])),
                                  dataset.feature_frame(bars))
    since = frame["window_end"].iloc[len(frame) // 2]
    assert archive.read(tmp_path, since=since)["window_end"].min() == since


WRITER = """
import sys, os
from pathlib import Path
import pyarrow as pa
from models import archive

def hang(fd):  # stop after the data is written, before fsync and rename
    print("writing", flush=True)
    sys.stdin.read()

archive.os.fsync = hang
table = pa.table({"x": list(range(200_000))})
archive.commit_table(table, Path(sys.argv[1]) / "date=2026-01-01/product=X/big.parquet")
"""


def test_kill_9_during_a_write_leaves_no_visible_file(tmp_path):
    complete = archive.write(tmp_path, [archive.row(m) for m in
                                        score_messages(simulated_bars(120))])
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        wait_until("the writer inside its write", lambda: writer.stdout.readline(), 30)
        temp = archive.temp_path(tmp_path / "date=2026-01-01/product=X/big.parquet")
        assert temp.exists() and temp.stat().st_size > 0
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    finally:
        writer.kill()
        writer.wait()
    # the half file stays under its temporary name: listing and reading skip it
    assert temp.exists() and not temp.with_name("big.parquet").exists()
    assert archive.files(tmp_path) == sorted(complete)
    rows = sum(pq.read_metadata(p).num_rows for p in complete)
    assert len(archive.read(tmp_path)) == rows
    # other readers too: pyarrow skips "."-prefixed files and reads the hive partitions
    assert len(pd.read_parquet(tmp_path)) == rows


def test_retrain_trains_on_the_archives_recent_window(tmp_path):
    root = tmp_path / "archive"
    archive.write(root, [archive.row(m) for m in score_messages(simulated_bars(2400))])
    env = {**os.environ, "VOLSPIKE_ARCHIVE_DIR": str(root)}
    done = subprocess.run(
        [sys.executable, "-m", "app", "retrain", "--window", "30m", "--search-seconds", "1",
         "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["alias"] == "champion" and result["decision"] == "no champion yet"
    # 30 minutes of 3 products, less the label horizon at the end
    assert 3 * (1800 - 60) * 0.1 < result["test"]["rows"] < 3 * 1800 * 0.2

    empty = subprocess.run([sys.executable, "-m", "app", "retrain"], cwd=ROOT,
                           env={**env, "VOLSPIKE_ARCHIVE_DIR": str(tmp_path / "none")},
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert empty.returncode != 0 and "no archived windows" in empty.stderr
