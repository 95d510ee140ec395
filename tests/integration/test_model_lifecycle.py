"""Hot reload inside a running worker: a promoted champion is swapped in, a broken one refused."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

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


def post(worker, path: str, body: bytes = b"", token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(worker.url + path, data=body, method="POST")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_admin_promote_and_reload_need_the_bearer_token_and_act_at_once(tmp_path):
    uri, artifacts = f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "artifacts"
    registry.configure(uri, artifacts)
    frame = simulated_frame(900)
    assert train.train(frame, QUICK)["alias"] == "champion"
    assert train.train(frame, QUICK)["alias"] == "challenger"
    token = "tok-" + "x" * 28

    stack = Stack(tmp_path, uri, artifacts)
    try:
        stack.start_broker()
        # no poll during the test: only the admin actions can change the model
        worker = stack.start_worker(env={"VOLSPIKE_MODEL_POLL_SECONDS": "3600",
                                         "VOLSPIKE_ADMIN_TOKEN": token})
        wait_until("version 1 serving", lambda: serving(worker) == "1", 60, worker)
        promote_2 = b'{"version": "2"}'
        # no drift check has run yet (the first comes after VOLSPIKE_DRIFT_INTERVAL_SECONDS)
        status, body = http_get(worker.url + "/drift")
        assert status == 503 and json.loads(body)["error"]

        assert post(worker, "/admin/promote", promote_2)[0] == 401
        assert post(worker, "/admin/promote", promote_2, token="wrong")[0] == 403
        assert post(worker, "/admin/reload", token="wrong")[0] == 403
        assert http_get(worker.url + "/admin/promote")[0] == 405
        assert post(worker, "/admin/promote", b"{nope", token=token)[0] == 400
        status, reply = post(worker, "/admin/promote", b'{"version": "two"}', token=token)
        assert status == 422 and reply["errors"][0]["field"] == "version"
        status, reply = post(worker, "/admin/promote", b'{"version": "99"}', token=token)
        assert status == 404 and "99" in reply["error"]
        assert serving(worker) == "1" and registry.alias_version() == "1"

        status, reply = post(worker, "/admin/promote", promote_2, token=token)
        assert status == 200 and reply["previous"] == "1" and reply["model_version"] == "2"
        assert serving(worker) == "2" and registry.alias_version() == "2"

        registry.promote("1")  # rolled back in the registry by someone else
        assert serving(worker) == "2"
        status, reply = post(worker, "/admin/reload", token=token)
        assert status == 200 and reply["model_version"] == "1" and serving(worker) == "1"
        assert token not in worker.tail(10_000)
    finally:
        stack.close()
