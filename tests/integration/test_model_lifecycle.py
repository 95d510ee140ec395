"""Hot reload inside a running worker: a promoted champion is swapped in, a broken one refused."""

from __future__ import annotations

import json
import re

import mlflow
import pytest

from models import registry, train
from tests.models.conftest import QUICK, register_with_spec, simulated_frame
from tests.stack import Stack, http_get, read_json, wait_until

pytestmark = pytest.mark.integration


def metric(worker, name: str, **labels) -> float | None:
    """A sample's value on the worker's /metrics, or None when absent."""
    status, body = http_get(worker.url + "/metrics")
    if status != 200:
        return None
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in body.decode().splitlines():
        m = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if m and ",".join(sorted(m.group(1).split(","))) == want:
            return float(m.group(2))
    return None


def serving(worker) -> str | None:
    status, body = http_get(worker.url + "/metrics")
    m = re.search(r'volspike_model_info\{[^}]*version="([^"]+)"[^}]*\} 1\.0', body.decode())
    return m.group(1) if status == 200 and m else None


def test_worker_swaps_to_a_promoted_champion_and_refuses_a_broken_one(tmp_path):
    uri, artifacts = f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "artifacts"
    registry.configure(uri, artifacts)
    frame = simulated_frame(900)
    assert train.train(frame, QUICK)["alias"] == "champion"

    stack = Stack(tmp_path, uri, artifacts)
    try:
        stack.start_broker()
        worker = stack.start_worker(env={"VOLSPIKE_MODEL_POLL_SECONDS": "0.5"})
        wait_until("version 1 serving", lambda: serving(worker) == "1", 60, worker)

        assert train.train(frame, QUICK)["alias"] == "challenger"
        stack.run(["promote", "2"])
        wait_until("the hot reload to version 2", lambda: serving(worker) == "2", 60, worker)
        assert metric(worker, "volspike_model_reloads_total", result="swapped") == 1.0

        stack.run(["simulate", "--seconds", "20", "--max", "--products", "BTC-USD"])
        scores = wait_until("scores", lambda: read_json(stack.bootstrap, "scores"), 60, worker)
        assert {s["model_version"] for s in scores} == {"2"}

        broken = register_with_spec(frame, "0" * 16)
        stack.run(["promote", broken])
        wait_until("the refusal", lambda: metric(
            worker, "volspike_model_reloads_total", result="refused") == 1.0, 60, worker)
        assert serving(worker) == "2"
        assert f"refusing volspike-xgb version {broken}" in worker.tail(200)
        status, body = http_get(worker.url + "/ready")
        assert status == 200 and json.loads(body)["status"] == "degraded"

        # the champion alias deleted: the worker keeps its model and says why it is stale
        mlflow.MlflowClient().delete_registered_model_alias(registry.MODEL_NAME, "champion")
        wait_until("degraded: no champion", lambda: "no volspike-xgb@champion" in str(
            json.loads(http_get(worker.url + "/ready")[1]).get("reasons")), 60, worker)
        assert serving(worker) == "2"
    finally:
        stack.close()
