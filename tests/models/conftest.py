"""Registries for the model tests: a fresh sqlite store, or a real `mlflow server` process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from models import dataset, registry, train
from models.simulator import Market
from tests.stack import free_port, http_get, wait_until

QUICK = train.Options(search_seconds=0.0)


def simulated_frame(seconds: int, seed: int = 11):
    """Feature rows of the seeded simulator, built with the worker's code."""
    messages = (raw for _t, _p, raw in Market(start=1.7e9, seed=seed).messages(seconds))
    return dataset.feature_frame(dataset.build_bars(dataset.iter_ticks(messages)))


def register_with_spec(frame, spec: str) -> str:
    """Register a real booster whose stored feature spec is `spec`; returns its version."""
    import mlflow
    import mlflow.xgboost

    fitted = train.fit(frame, QUICK)
    with mlflow.start_run():
        mlflow.log_dict({**fitted.model.meta, "feature_spec_hash": spec}, registry.META_ARTIFACT)
        info = mlflow.xgboost.log_model(fitted.model.booster, name="model",
                                        registered_model_name=registry.MODEL_NAME)
    return str(info.registered_model_version)


@pytest.fixture(scope="session")
def frame():
    return simulated_frame(1500)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real `mlflow server` on a free 127.0.0.1 port, killed with its workers at teardown."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = open(root / "server.log", "ab")  # noqa: SIM115
    popen = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--artifacts-destination", str(root / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until("mlflow server /health", lambda: popen.poll() is None
                   and http_get(url + "/health")[0] == 200, 120)
        yield url
    finally:
        try:
            os.killpg(popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        popen.wait()
        log.close()


@pytest.fixture(scope="session")
def empty_sqlite_store(tmp_path_factory) -> Path:
    """An sqlite store with MLflow's schema, made once: creating the schema takes seconds."""
    import mlflow

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(request, tmp_path):
    """An empty volspike registry, configured in this process; returns its tracking URI.

    sqlite unless the test parametrizes it (indirect) with "server".
    """
    if getattr(request, "param", "sqlite") == "sqlite":
        shutil.copy(request.getfixturevalue("empty_sqlite_store"), tmp_path / "mlflow.db")
        uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
        registry.configure(uri, tmp_path / "artifacts")
    else:
        import mlflow

        uri = request.getfixturevalue("mlflow_server")
        registry.configure(uri)
        client = mlflow.MlflowClient()
        if client.search_registered_models(f"name = '{registry.MODEL_NAME}'"):
            client.delete_registered_model(registry.MODEL_NAME)
    return uri
