"""The embedded Kafka-compatible broker: librdkafka's mock cluster.

It lives inside this process (a `confluent_kafka.Producer` configured with
`test.mock.num.brokers`) on a random 127.0.0.1 port, which is published in
`<data dir>/broker.json` for the other commands. Chosen over tansu because
its end offsets, consumer groups and transactions are correct, which crash
recovery depends on. Limits: topics are auto-created with 4 partitions, and
each partition keeps only its newest ~5 MB.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path

from app.settings import broker_file


def start() -> tuple[object, str]:
    """Start the mock cluster; returns the handle (keep it alive) and host:port."""
    try:
        from confluent_kafka import KafkaException, Producer
    except ImportError as exc:  # pragma: no cover - a broken install
        raise SystemExit(
            f"cannot start the embedded broker: confluent-kafka missing ({exc})"
        ) from None
    try:
        handle = Producer({"test.mock.num.brokers": 1, "log_level": 3})
        brokers = handle.list_topics(timeout=10).brokers
    except KafkaException as exc:
        raise SystemExit(f"cannot start the embedded broker: {exc}") from None
    if not brokers:
        raise SystemExit("cannot start the embedded broker: the mock cluster has no broker")
    meta = next(iter(brokers.values()))
    return handle, f"{meta.host}:{meta.port}"


def serve(data_dir: Path) -> None:
    """Run the broker until SIGINT/SIGTERM, publishing its address meanwhile."""
    handle, bootstrap = start()
    path = broker_file(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"bootstrap": bootstrap, "pid": os.getpid()}))
    tmp.replace(path)
    print(f"embedded broker listening on {bootstrap} (address in {path})", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    finally:
        try:
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass
        del handle
        print("embedded broker stopped", file=sys.stderr, flush=True)
