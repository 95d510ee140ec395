"""Fixtures shared by every test package: real data, a trained registry, process stacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack import ROOT, Stack

SHARED_DATA = ROOT.parent / "shared" / "data" / "coinbase"


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
