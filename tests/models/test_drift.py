"""Drift: none between two runs of the same market, clear drift at higher volatility."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from models import baselines, dataset, drift
from models.features import SPAN
from models.simulator import Market
from tests.stack import ROOT

SECONDS = 7200
BLOCK = 300
TAU = 1e-4


def market_blocks(vol_scale: float = 1.0) -> tuple:
    """Two hours of one simulated product after its warm-up, cut in 5-minute blocks: the
    even blocks and the odd ones (the same market, interleaved), features and the
    persistence score as the probability. Spikes cluster for minutes, so two single hours
    of one market differ by chance more than interleaved blocks do."""
    market = Market(["BTC-USD"], start=1.7e9, seed=1, vol_scale=vol_scale)
    frame = dataset.feature_frame(dataset.build_bars(dataset.iter_ticks(
        raw for _t, _p, raw in market.messages(SPAN + SECONDS))))
    frame = frame[frame["window_end"] >= frame["window_end"].min() + SPAN]
    odd = ((frame["window_end"] - frame["window_end"].min()) // BLOCK) % 2 == 1
    return tuple(drift.reference_sample(part, lambda x: baselines.persistence(x, TAU))
                 for part in (frame[~odd], frame[odd]))


@pytest.fixture(scope="module")
def blocks():
    return market_blocks()


@pytest.fixture
def reference(blocks):
    return blocks[0]


def test_same_market_does_not_drift(reference, blocks):
    summary = drift.check(reference, blocks[1]).summary
    assert not summary["dataset_drift"]
    assert summary["drifted_features"] == [] and summary["drift_share"] == 0.0
    assert summary["prediction_drift"] < 0.4


def test_higher_volatility_drifts(reference, tmp_path):
    shifted = market_blocks(vol_scale=3.0)[1]  # the same market, three times as volatile
    result = drift.check(reference, shifted)
    summary = result.summary
    assert summary["dataset_drift"]
    # the level features move; the scale-free ones are built not to
    assert {"rv_30", "rv_60", "rv_300"} <= set(summary["drifted_features"])
    assert summary["prediction_drift"] >= 0.4  # the scores moved with the volatility

    # the command: an HTML report, a JSON summary, and the summary as its last stdout line
    reference.to_parquet(tmp_path / "reference.parquet")
    shifted.to_parquet(tmp_path / "current.parquet")
    done = subprocess.run(
        [sys.executable, "-m", "app", "drift", "--reference", str(tmp_path / "reference.parquet"),
         "--current", str(tmp_path / "current.parquet"), "--output", str(tmp_path / "out")],
        cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert last["drift_share"] == summary["drift_share"]
    assert last["drifted_features"] == summary["drifted_features"]
    assert last["dataset_drift"] is True
    assert "<html" in open(last["html"]).read(2000).lower()
    assert json.loads(open(last["json"]).read())["drift_share"] == summary["drift_share"]


def test_drift_command_refuses_bad_input_clearly(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "app", "drift", "--reference", "no-such-run",
         "--current", "ten minutes", "--archive", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
