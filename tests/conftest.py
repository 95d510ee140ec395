"""Fixtures shared by every test package: real data, a trained registry, process stacks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.stack import QUIET, ROOT, Stack

SHARED_DATA = ROOT.parent / "shared" / "data" / "coinbase"


def pytest_configure(config) -> None:
    """Keep the test process off ./var and off any broker a developer runs.

    `app.settings` reads the environment once, at import, so this runs before
    any test module imports the app: state goes to a temp folder, and the
    in-process Faust app (agent tests) talks to an embedded broker of its own.
    """
    if os.environ.get("VOLSPIKE_TEST_BROKER"):  # already set up (xdist workers, reruns)
        return
    from confluent_kafka import Producer

    data = Path(tempfile.mkdtemp(prefix="volspike-tests-"))
    broker = Producer({"test.mock.num.brokers": 1, "logger": QUIET})
    meta = next(iter(broker.list_topics(timeout=10).brokers.values()))
    config._volspike_broker = broker  # the mock cluster lives as long as this handle
    config._volspike_data = data
    os.environ.update({
        "VOLSPIKE_TEST_BROKER": f"{meta.host}:{meta.port}",
        "VOLSPIKE_BROKER_URL": f"kafka://{meta.host}:{meta.port}",
        "VOLSPIKE_DATA_DIR": str(data),
        "VOLSPIKE_MLFLOW_TRACKING_URI": f"sqlite:///{data / 'mlflow.db'}",
        "VOLSPIKE_MLFLOW_ARTIFACTS": str(data / "artifacts"),
    })


def pytest_unconfigure(config) -> None:
    data = getattr(config, "_volspike_data", None)
    if data is not None:
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session")
def coinbase_data() -> Path:
    """The real Coinbase recordings, read in place; tests skip without them."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real Coinbase recordings not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def registry(tmp_path_factory) -> tuple[str, Path]:
    """An MLflow sqlite registry with a champion trained on the simulator (URI, artifacts)."""
    root = tmp_path_factory.mktemp("mlflow")
    uri, artifacts = f"sqlite:///{root / 'mlflow.db'}", root / "artifacts"
    env = {**os.environ, "VOLSPIKE_MLFLOW_TRACKING_URI": uri,
           "VOLSPIKE_MLFLOW_ARTIFACTS": str(artifacts), "VOLSPIKE_DATA_DIR": str(root)}
    done = subprocess.run(
        [sys.executable, "-m", "app", "train", "--simulated", "1800"],
        cwd=ROOT, env=env, capture_output=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    result = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert result["alias"] == "champion"
    return uri, artifacts


@pytest.fixture
def stack(tmp_path, registry):
    """A factory of real processes (broker, workers, CLI commands), all killed at teardown."""
    uri, artifacts = registry
    procs = Stack(tmp_path, uri, artifacts)
    try:
        yield procs
    finally:
        procs.close()
