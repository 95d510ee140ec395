"""`python -m bench --quick` runs end to end and writes every figure's key; no speed is asserted."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.stack import ROOT

pytestmark = pytest.mark.integration

KEYS = ("pipeline_ticks_per_s", "ceiling_aiokafka_ticks_per_s", "ceiling_faust_ticks_per_s",
        "latency_ms", "predict_ms", "scoring_ms", "worker_peak_rss_mb", "load_average",
        "git_revision", "date", "command")


def test_quick_run_writes_every_figure(tmp_path):
    out = tmp_path / "latest.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--ticks", "1500", "--chunk", "500",
         "--skip", "profile", "--out", str(out)],
        cwd=ROOT, capture_output=True, timeout=540, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    result = json.loads(out.read_text())
    assert not [key for key in KEYS if key not in result]
    for key in ("p50", "p95", "p99"):
        assert key in result["latency_ms"] and key in result["predict_ms"]
    assert result["pipeline_counters"]["volspike_windows_scored_total"] > 0
    assert b"full pipeline, per worker" in done.stdout
