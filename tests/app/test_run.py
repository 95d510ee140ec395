"""`python -m app run` (what `make run` starts): the whole embedded stack, then Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.stack import ROOT, free_port, http_get, pids_with_env, samples, wait_until

pytestmark = pytest.mark.integration


def test_run_starts_everything_offline_and_ctrl_c_stops_it_all(tmp_path):
    data, port = tmp_path / "var", free_port()
    env = {
        **os.environ, "PYTHONUNBUFFERED": "1", "VOLSPIKE_DATA_DIR": str(data),
        "VOLSPIKE_WEB_PORT": str(port), "VOLSPIKE_SESSION_TIMEOUT": "6",
        # no internet here: a closed local port stands in for Coinbase
        "VOLSPIKE_COINBASE_WS_URL": f"ws://127.0.0.1:{free_port()}",
    }
    for name in ("VOLSPIKE_BROKER_URL", "VOLSPIKE_MLFLOW_TRACKING_URI",
                 "VOLSPIKE_MLFLOW_ARTIFACTS"):
        env.pop(name, None)  # the defaults under the data dir, as for a newcomer
    out = tmp_path / "run.log"
    run = subprocess.Popen(
        [sys.executable, "-m", "app", "run", "--simulator-after", "3"], cwd=ROOT, env=env,
        stdout=open(out, "wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,  # noqa: SIM115
    )
    try:
        wait_until("the stack to start", lambda: b"volspike is running" in out.read_bytes(), 240)
        assert b"training one on" in out.read_bytes()  # fresh registry: a bootstrap model
        metrics = f"http://127.0.0.1:{port}/metrics"
        wait_until("scored windows on /metrics", lambda: sum(
            v for _, v in samples(metrics, "volspike_windows_scored_total")) >= 6, 90)
        text = http_get(f"http://127.0.0.1:{port}/metrics")[1].decode()
        assert "volspike_alerts_total" in text
        assert 'volspike_model_info{alias="champion",name="volspike-xgb",version="1"} 1.0' in text
        status, body = http_get(f"http://127.0.0.1:{port}/health")
        assert status == 200
        assert b"feeding the simulator" in out.read_bytes()

        run.send_signal(signal.SIGINT)
        assert run.wait(30) == 0
        assert out.read_bytes().rstrip().endswith(b"stopped.")
        assert pids_with_env(str(data)) == [], "a process of the stack outlived Ctrl-C"
    finally:
        run.kill()
        for pid in pids_with_env(str(data)):
            os.kill(pid, signal.SIGKILL)
