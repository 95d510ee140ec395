"""The worker's Parquet archive: the same training rows as the recording, even across a kill -9."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from models import archive, dataset
from tests.integration.fixtures import RECORDING
from tests.stack import metric, samples, wait_until

pytestmark = pytest.mark.integration

#: roll a file every 300 rows, so files are being written all through the replay
SMALL_FILES = {"VOLSPIKE_ARCHIVE_ROLL_ROWS": "300", "VOLSPIKE_ARCHIVE_ROLL_SECONDS": "1"}


def archived_ids(root) -> set[str]:
    return set(archive.read(root)["id"]) if archive.files(root) else set()


def test_archive_survives_kill_9_and_trains_like_the_recording(stack, coinbase_data, tmp_path):
    recording = coinbase_data / RECORDING
    expected = dataset.load([recording])
    want = set(expected["product"] + ":" + expected["window_end"].astype(str))
    root = tmp_path / "worker" / "archive"

    stack.start_broker()
    worker = stack.start_worker(env=SMALL_FILES)
    replay = stack.spawn("replay", ["replay", str(recording), "--speed", "20"])
    wait_until("a third of the windows archived",
               lambda: len(archived_ids(root)) >= len(want) / 3, 120, worker)
    worker.kill()  # SIGKILL while files are being written
    for path in archive.files(root):  # every visible file is complete
        pq.read_table(path)
    worker = stack.start_worker("worker-restarted", data_dir=tmp_path / "worker",
                                env=SMALL_FILES)
    assert replay.popen.wait(120) == 0
    wait_until("every window archived", lambda: archived_ids(root) >= want, 180, worker)

    assert archived_ids(root) == want  # nothing lost, nothing extra (duplicates deduped)
    from_archive = dataset.feature_frame(dataset.archive_bars([root]))
    pd.testing.assert_frame_equal(from_archive, expected)

    # `train --data` takes the archive (own registry: the session champion stays)
    result = stack.run(["train", "--data", str(root), "--search-seconds", "1",
                        "--tracking-uri", f"sqlite:///{tmp_path / 'own.db'}"])
    assert result["alias"] == "champion" and result["test"]["rows"] > 0


def test_the_worker_retrains_on_schedule_and_serves_the_new_champion(stack, tmp_path):
    """Own, empty registry: the worker starts on the baseline; its scheduled retrain on the
    archive registers a first model, which becomes champion and serves without a restart."""
    own = {"VOLSPIKE_MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'own.db'}",
           "VOLSPIKE_MLFLOW_ARTIFACTS": str(tmp_path / "own-artifacts")}
    stack.env.update(own)
    stack.start_broker()
    worker = stack.start_worker(env={**SMALL_FILES, "VOLSPIKE_RETRAIN_INTERVAL_SECONDS": "30",
                                     "VOLSPIKE_SEARCH_SECONDS": "1"})
    stack.run(["simulate", "--seconds", "1800", "--max", "--start", "1767225600",
               "--products", "BTC-USD,ETH-USD"])
    wait_until("a scheduled retrain", lambda: (metric(
        worker.url + "/metrics", "volspike_retrains_total", result="ok") or 0) >= 1, 300, worker)
    assert "retraining from the archive: schedule" in worker.tail(500)
    wait_until("the retrained champion serving", lambda: any(
        labels["version"] == "1" and value == 1.0 for labels, value in
        samples(worker.url + "/metrics", "volspike_model_info")), 60, worker)
