"""Real processes for integration tests: the embedded broker, workers, CLI commands.

Every process runs in its own session and is killed with its group at
teardown, pass or fail, so a test never leaves anything running. Each
process writes its output to a log file in the test's tmp folder; a failed
wait quotes the log's tail.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: librdkafka's own log lines (connection retries) stay out of the test output
QUIET = logging.getLogger("tests.librdkafka")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_until(what: str, check: Callable[[], object], timeout: float, proc=None) -> object:
    """Poll `check` until it returns something truthy; fail with `what` and the log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.popen.poll() is not None:
            raise AssertionError(f"{proc.name} exited ({proc.popen.returncode}) while waiting "
                                 f"for {what}:\n{proc.tail()}")
        try:
            value = check()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}"
                         + (f":\n{proc.tail()}" if proc else ""))


class Proc:
    def __init__(self, name: str, popen: subprocess.Popen, log: Path) -> None:
        self.name, self.popen, self.log = name, popen, log

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass
        if sig == signal.SIGKILL:
            self.popen.wait()

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
        self.kill(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.popen.returncode


class Worker(Proc):
    url: str


class Stack:
    """Starts volspike processes in `tmp`, each with its own data dir; `close()` kills all."""

    def __init__(self, tmp: Path, registry_uri: str, artifacts: Path) -> None:
        self.tmp = tmp
        self.procs: list[Proc] = []
        self.env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "VOLSPIKE_MLFLOW_TRACKING_URI": registry_uri,
            "VOLSPIKE_MLFLOW_ARTIFACTS": str(artifacts),
            "VOLSPIKE_SESSION_TIMEOUT": "6",
            "VOLSPIKE_APP_ID": f"volspike-test-{uuid.uuid4().hex[:8]}",
        }
        self.bootstrap: str | None = None

    def spawn(self, name: str, args: list[str], env: dict | None = None,
              module: str = "app") -> Proc:
        log = self.tmp / f"{name}.log"
        popen = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=ROOT, env={**self.env, **(env or {})}, stdout=open(log, "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def start_broker(self, name: str = "broker") -> Proc:
        """A fresh embedded broker; later processes of this stack connect to it."""
        data = self.tmp / name
        proc = self.spawn(name, ["broker"], {"VOLSPIKE_DATA_DIR": str(data)})
        path = data / "broker.json"
        wait_until("the broker address", path.exists, 30, proc)
        self.bootstrap = json.loads(path.read_text())["bootstrap"]
        self.env["VOLSPIKE_BROKER_URL"] = f"kafka://{self.bootstrap}"
        return proc

    def start_worker(self, name: str = "worker", *, data_dir: Path | None = None,
                     env: dict | None = None, module: str = "app") -> Worker:
        """`python -m <module> worker`, once its /health answers."""
        port = free_port()
        data_dir = data_dir or self.tmp / name
        proc = self.spawn(name, ["worker", "-l", "info"], {
            "VOLSPIKE_DATA_DIR": str(data_dir), "VOLSPIKE_WEB_PORT": str(port), **(env or {}),
        }, module)
        proc.__class__ = Worker
        proc.url = f"http://127.0.0.1:{port}"
        wait_until(f"{name} /health", lambda: http_get(proc.url + "/health")[0] == 200, 90, proc)
        return proc

    def run(self, args: list[str], timeout: float = 300, env: dict | None = None) -> dict:
        """Run a CLI command to completion; returns the JSON object on its last stdout line."""
        done = subprocess.run(
            [sys.executable, "-m", "app", *args], cwd=ROOT, env={**self.env, **(env or {})},
            capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise AssertionError(
                f"`app {' '.join(args)}` exited {done.returncode}:\n{done.stderr.decode()[-3000:]}"
            )
        return json.loads(done.stdout.decode().strip().splitlines()[-1])

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.kill()


def read_topic(bootstrap: str, topic: str, timeout: float = 10.0) -> list:
    """Every message of `topic` from the beginning to its current end offsets."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex}",
        "enable.auto.commit": False, "logger": QUIET,
    })
    try:
        meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            return []
        ends = {}
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, low_offset(consumer, topic, p)) for p in ends])
        out, deadline = [], time.monotonic() + timeout
        while ends and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            out.append(msg)
            if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                ends.pop(msg.partition(), None)
        if ends:
            raise AssertionError(f"could not read {topic} to its end: {ends}")
        return out
    finally:
        consumer.close()


def low_offset(consumer, topic: str, partition: int) -> int:
    from confluent_kafka import TopicPartition

    return consumer.get_watermark_offsets(TopicPartition(topic, partition))[0]


def frames(messages: list) -> list[tuple[object, bytes]]:
    """(message, feed message) for every feed message that ticks.raw messages carry."""
    from app.produce import split_frames

    return [(m, frame) for m in messages for frame in split_frames(m.value(), m.headers())]


def read_json(bootstrap: str, topic: str) -> list[dict]:
    return [json.loads(m.value()) for m in read_topic(bootstrap, topic)]


def pids_with_env(marker: str) -> list[int]:
    """Processes whose environment mentions `marker` (e.g. a test's data dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def samples(url: str, name: str) -> list[tuple[dict, float]]:
    """(labels, value) of every sample `name` on a Prometheus endpoint; [] when it is down."""
    return all_samples(url).get(name, [])


def all_samples(url: str, timeout: float = 2.0) -> dict[str, list[tuple[dict, float]]]:
    """Every sample on a Prometheus endpoint by name, from one scrape; {} when it is down."""
    from prometheus_client.parser import text_string_to_metric_families

    status, body = http_get(url, timeout)
    out: dict[str, list[tuple[dict, float]]] = {}
    if status != 200:
        return out
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def metric(url: str, name: str, **labels) -> float | None:
    """The value of the sample `name` with exactly these labels, or None when absent."""
    return next((v for have, v in samples(url, name) if have == labels), None)
