"""`python -m app run`: the whole embedded stack in one terminal.

Starts the broker, trains a bootstrap model from the simulator when the
registry has no champion, starts the worker and the live ingester (which
falls back to the simulator when Coinbase is out of reach), then prints a
status line and every alert until Ctrl-C, which stops everything it started.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from app.settings import broker_file, settings

BOOTSTRAP_SECONDS = 3600


class Stack:
    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.logs = settings.data_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, VOLSPIKE_DATA_DIR=str(settings.data_dir), PYTHONUNBUFFERED="1")

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", *args], env=self.env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.procs.append((name, proc))
        return proc

    def check(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace").splitlines()[-15:]
                raise SystemExit(
                    f"{name} exited with code {proc.returncode}; last lines of "
                    f"{self.logs / (name + '.log')}:\n" + "\n".join(tail)
                )

    def stop(self) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_for_broker(stack: Stack, path: Path, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.check()
        if path.exists():
            return json.loads(path.read_text())["bootstrap"]
        time.sleep(0.2)
    raise SystemExit(
        f"the embedded broker did not publish its address in {path} within {timeout} s"
    )


def _has_champion() -> bool:
    from models import registry

    registry.configure(settings.mlflow_tracking_uri, settings.mlflow_artifacts)
    try:
        return registry.load() is not None
    except Exception as exc:  # a broken store: say so and train a fresh model
        print(f"registry check failed ({exc}); training a bootstrap model", flush=True)
        return False


def _metric_sum(text: str, name: str) -> float:
    pattern = re.compile(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+-]+)$", re.M)
    return sum(float(v) for v in pattern.findall(text))


def _status(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    return (
        f"ticks {_metric_sum(text, 'volspike_ticks_total'):.0f} · "
        f"windows scored {_metric_sum(text, 'volspike_windows_scored_total'):.0f} · "
        f"alerts {_metric_sum(text, 'volspike_alerts_total'):.0f} · "
        f"rejected {_metric_sum(text, 'volspike_rejected_ticks_total'):.0f}"
    )


def run_stack(*, simulator_after: float) -> None:
    stack = Stack()
    stopping = False

    def _terminate(*_args) -> None:
        raise KeyboardInterrupt

    # the Faust command loop's own handlers never run while this blocks: take the signals
    signal.signal(signal.SIGINT, _terminate)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        path = broker_file(settings.data_dir)
        path.unlink(missing_ok=True)
        print("starting the embedded broker …", flush=True)
        stack.start("broker", "broker")
        bootstrap = _wait_for_broker(stack, path)
        stack.env["VOLSPIKE_BROKER_URL"] = f"kafka://{bootstrap}"
        print(f"broker on {bootstrap}", flush=True)
        if not _has_champion():
            print(f"no champion model yet: training one on {BOOTSTRAP_SECONDS} s of simulated "
                  "market …", flush=True)
            subprocess.run(
                [sys.executable, "-m", "app", "train", "--simulated", str(BOOTSTRAP_SECONDS)],
                env=stack.env, check=True, stdout=subprocess.DEVNULL,
            )
        # the embedded broker starts empty, so table state from an earlier run is stale
        shutil.rmtree(settings.data_dir / "worker", ignore_errors=True)
        stack.start("worker", "worker", "-l", "info")
        stack.start(
            "ingest", "ingest", "--products", ",".join(settings.products),
            "--fallback-after", str(simulator_after),
        )
        web = f"http://{settings.web_host}:{settings.web_port}"
        print(
            f"\nvolspike is running (logs in {stack.logs}):\n"
            f"  health   {web}/health\n  metrics  {web}/metrics\n"
            f"  products {web}/api/products\n"
            f"  alerts   topic 'alerts' on {bootstrap}\n"
            "Ctrl-C stops everything.\n",
            flush=True,
        )
        _follow(stack, web)
    except KeyboardInterrupt:
        stopping = True
    finally:
        print("\nstopping …" if stopping else "stopping …", flush=True)
        stack.stop()
        print("stopped.", flush=True)


def _follow(stack: Stack, web: str) -> None:
    """Print a status line every 10 s and each alert as the worker logs it."""
    worker_log = stack.logs / "worker.log"
    ingest_log = stack.logs / "ingest.log"
    offsets = {worker_log: worker_log.stat().st_size, ingest_log: 0}
    last_status = 0.0
    while True:
        stack.check()
        for path, offset in offsets.items():
            if not path.exists():
                continue
            with open(path, "rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
                offsets[path] = offset + len(chunk)
            for line in chunk.decode(errors="replace").splitlines():
                if "ALERT " in line or "feeding the simulator" in line or "connected to" in line:
                    print(line.split("] ", 3)[-1] if "] " in line else line, flush=True)
        if time.monotonic() - last_status >= 10:
            status = _status(f"{web}/metrics")
            if status:
                print(status, flush=True)
                last_status = time.monotonic()
        time.sleep(0.5)
