"""The broker goes away and comes back (same address, data kept, as a restarted
Kafka broker does): the source and the worker retry, then every window is scored."""

from __future__ import annotations

import signal
import time

import pytest

from tests.integration.fixtures import expected_windows
from tests.stack import read_json, wait_until

pytestmark = pytest.mark.integration

OUTAGE_SECONDS = 15
FEED = ["--products", "BTC-USD,ETH-USD", "--seconds", "240", "--seed", "11"]


def test_source_and_worker_ride_out_a_broker_outage(stack, tmp_path):
    start = str(int(time.time()) - 3600)
    recording = tmp_path / "feed.ndjson"
    stack.run(["simulate", *FEED, "--start", start, "--output", str(recording)])
    expected = set(expected_windows(recording))

    broker = stack.start_broker()
    worker = stack.start_worker()
    feed = stack.spawn("feed", ["simulate", *FEED, "--start", start, "--speed", "8"])

    def scored() -> set[str]:
        return {s["id"] for s in read_json(stack.bootstrap, "scores")}

    wait_until("the first scores", lambda: len(scored()) > 50, 60, worker)
    broker.kill(signal.SIGUSR1)
    time.sleep(OUTAGE_SECONDS)
    broker.kill(signal.SIGUSR2)

    assert feed.popen.wait(180) == 0, feed.tail()
    wait_until("every window scored", lambda: scored() >= expected, 120, worker)
    assert scored() == expected
    assert "embedded broker down" in broker.tail() and "up again" in broker.tail()
    # both said what went wrong while it lasted (aiokafka's words), and carried on
    for proc in (worker, feed):
        assert "Unable connect to node with id 1" in proc.log.read_text(errors="replace")
