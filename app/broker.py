"""The embedded Kafka-compatible broker: librdkafka's mock cluster.

It lives inside this process on a random 127.0.0.1 port, which is published
in `<data dir>/broker.json` for the other commands. Chosen over tansu because
its end offsets, consumer groups and transactions are correct, which crash
recovery depends on. Limits: topics are auto-created with 4 partitions, and
each partition keeps only its newest ~5 MB.

The cluster is driven through librdkafka's C API (the copy inside the
confluent-kafka wheel) rather than a `confluent_kafka.Producer`, because only
the C API can take the broker down and up again: SIGUSR1 and SIGUSR2 do that,
so an outage (connections refused, data kept, same port) can be rehearsed
like a restart of a real Kafka broker.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import threading
from pathlib import Path

from app.settings import broker_file

BROKER_ID = 1  # the mock cluster numbers its brokers from 1
_PRODUCER = 0  # rd_kafka_type_t


class MockCluster:
    """One mock broker; `down()` refuses connections, `up()` serves them again."""

    def __init__(self) -> None:
        lib = _librdkafka()
        err = ctypes.create_string_buffer(512)
        conf = lib.rd_kafka_conf_new()
        for name, value in ((b"test.mock.num.brokers", b"1"), (b"log_level", b"3")):
            if lib.rd_kafka_conf_set(conf, name, value, err, len(err)) != 0:
                raise SystemExit(f"cannot start the embedded broker: {err.value.decode()}")
        self._rk = lib.rd_kafka_new(_PRODUCER, conf, err, len(err))
        if not self._rk:
            raise SystemExit(f"cannot start the embedded broker: {err.value.decode()}")
        self._lib = lib
        self._cluster = lib.rd_kafka_handle_mock_cluster(self._rk)
        self.bootstrap = lib.rd_kafka_mock_cluster_bootstraps(self._cluster).decode()

    def down(self) -> None:
        self._lib.rd_kafka_mock_broker_set_down(self._cluster, BROKER_ID)

    def up(self) -> None:
        self._lib.rd_kafka_mock_broker_set_up(self._cluster, BROKER_ID)

    def close(self) -> None:
        if self._rk:
            self._lib.rd_kafka_destroy(self._rk)
            self._rk = None


def _librdkafka() -> ctypes.CDLL:
    try:
        import confluent_kafka
    except ImportError as exc:  # pragma: no cover - a broken install
        raise SystemExit(f"cannot start the embedded broker: no confluent-kafka ({exc})") from None
    libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
    found = sorted(libs.glob("librdkafka*.so*"))
    if not found:
        raise SystemExit(f"cannot start the embedded broker: no librdkafka in {libs}")
    lib = ctypes.CDLL(str(found[0]))
    p, s, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    for name, restype, argtypes in (
        ("rd_kafka_conf_new", p, []),
        ("rd_kafka_conf_set", i, [p, s, s, s, ctypes.c_size_t]),
        ("rd_kafka_new", p, [i, p, s, ctypes.c_size_t]),
        ("rd_kafka_destroy", None, [p]),
        ("rd_kafka_handle_mock_cluster", p, [p]),
        ("rd_kafka_mock_cluster_bootstraps", s, [p]),
        ("rd_kafka_mock_broker_set_down", i, [p, ctypes.c_int32]),
        ("rd_kafka_mock_broker_set_up", i, [p, ctypes.c_int32]),
    ):
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    return lib


def serve(data_dir: Path) -> None:
    """Run the broker until SIGINT/SIGTERM, publishing its address meanwhile."""
    cluster = MockCluster()
    path = broker_file(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"bootstrap": cluster.bootstrap, "pid": os.getpid()}))
    tmp.replace(path)
    print(f"embedded broker listening on {cluster.bootstrap} (address in {path}); "
          f"kill -USR1 {os.getpid()} takes it down, kill -USR2 brings it back", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: _switch(cluster.down, "down: refusing connections"))
    signal.signal(signal.SIGUSR2, lambda *_: _switch(cluster.up, "up again"))
    try:
        while not stop.wait(1.0):
            pass
    finally:
        try:
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass
        cluster.close()
        print("embedded broker stopped", file=sys.stderr, flush=True)


def _switch(action, what: str) -> None:
    action()
    print(f"embedded broker {what}", file=sys.stderr, flush=True)
