"""kill -9 a worker in the middle of a replay: the scores and alerts come out as without it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.fixtures import RECORDING, by_id, expected_windows
from tests.stack import ROOT, Stack, read_json, wait_until

pytestmark = pytest.mark.integration

#: No champion: the persistence baseline scores (its probability is 0.5 where the past
#: 60 s realized volatility reaches τ), with τ near the recording's 80th percentile, so
#: alerts come and go whatever a trained model would make of this period.
ALERTING = {"VOLSPIKE_PERSISTENCE_TAU": "0.00013", "VOLSPIKE_ALERT_COOLDOWN_SECONDS": "20"}


def replay_in_background(stack, recording, speed: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "app", "replay", str(recording), "--speed", speed], cwd=ROOT,
        env=stack.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def run_to_completion(stack, recording, expected: int, crash_at: float | None,
                      keep_datadir: bool = True) -> tuple[dict, dict, int]:
    """(scores by id, alerts by id, raw score count) of one replay at 20x."""
    stack.start_broker()
    worker = stack.start_worker("worker", env=ALERTING)
    replay = replay_in_background(stack, recording, "20")
    try:
        if crash_at is not None:
            wait_until("scores before the crash", lambda: len(
                read_json(stack.bootstrap, "scores")) >= expected * crash_at, 120, worker)
            worker.kill()  # SIGKILL: no flush, no commit, no goodbye
            if not keep_datadir:
                shutil.rmtree(stack.tmp / "worker")
            worker = stack.start_worker("worker-restarted", data_dir=stack.tmp / "worker",
                                        env=ALERTING)
        assert replay.wait(120) == 0
        wait_until("every window scored", lambda: len(by_id(
            read_json(stack.bootstrap, "scores"))) >= expected, 120, worker)
        # the alerts agent trails the scores: wait until its input is all consumed
        wait_until("alerts to settle", lambda: _settled(stack), 60, worker)
    finally:
        replay.kill()
    scores = read_json(stack.bootstrap, "scores")
    return by_id(scores), by_id(read_json(stack.bootstrap, "alerts")), len(scores)


def _settled(stack) -> bool:
    before = len(read_json(stack.bootstrap, "alerts"))
    time.sleep(3)
    return len(read_json(stack.bootstrap, "alerts")) == before


def empty_registry(tmp: Path) -> tuple[str, Path]:
    return f"sqlite:///{tmp / 'mlflow.db'}", tmp / "artifacts"


@pytest.fixture(scope="module")
def reference(coinbase_data, tmp_path_factory):
    """The uninterrupted run."""
    recording = coinbase_data / RECORDING
    expected = len(expected_windows(recording))
    tmp = tmp_path_factory.mktemp("reference")
    stack = Stack(tmp, *empty_registry(tmp))
    try:
        scores, alerts, _ = run_to_completion(stack, recording, expected, crash_at=None)
    finally:
        stack.close()
    assert len(alerts) >= 3, "the reference run should alert a few times"
    return recording, expected, scores, alerts


@pytest.mark.parametrize("keep_datadir", [True, False], ids=["keep-rocksdb", "delete-rocksdb"])
def test_kill_9_and_restart_changes_no_score_and_no_alert(reference, keep_datadir, tmp_path):
    recording, expected, want_scores, want_alerts = reference
    stack = Stack(tmp_path, *empty_registry(tmp_path))
    try:
        scores, alerts, sent = run_to_completion(stack, recording, expected, crash_at=0.4,
                                                 keep_datadir=keep_datadir)
    finally:
        stack.close()
    assert scores == want_scores
    assert alerts == want_alerts
    assert sent >= len(scores)  # duplicates allowed (at-least-once), all identical
    log = (stack.tmp / "worker-restarted.log").read_text()
    assert "restored BTC-USD" in log and "restored ETH-USD" in log
