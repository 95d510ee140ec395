"""Hot reload inside a running worker: a promoted champion is swapped in, a broken one refused."""

from __future__ import annotations

import json

import mlflow
import pytest

from models import registry, train
from tests.models.conftest import QUICK, register_with_spec, simulated_frame
from tests.stack import Stack, http_get, read_json, samples, wait_until
from tests.stack import metric as stack_metric

pytestmark = pytest.mark.integration


def metric(worker, name: str, **labels) -> float | None:
    return stack_metric(worker.url + "/metrics", name, **labels)


def serving(worker) -> str | None:
    return next((labels["version"] for labels, value in
                 samples(worker.url + "/metrics", "volspike_model_info") if value == 1.0), None)


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
