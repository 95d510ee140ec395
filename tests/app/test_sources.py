"""Sources (replay, simulate, ingest) and the broker: start order does not matter."""

from __future__ import annotations

import json
import time

import pytest

from tests.stack import frames, read_topic, wait_until

pytestmark = pytest.mark.integration


def test_a_replay_started_before_the_embedded_broker_waits_for_it(stack, tmp_path):
    data = tmp_path / "var"
    recording = tmp_path / "sim.ndjson"
    stack.run(["simulate", "--seconds", "20", "--start", "1750000000", "--output",
               str(recording)])
    stack.env.pop("VOLSPIKE_BROKER_URL", None)  # the default: follow var/broker.json
    env = {"VOLSPIKE_DATA_DIR": str(data)}
    replay = stack.spawn("replay", ["replay", str(recording), "--max"], env)
    wait_until("the replay to look for a broker", lambda: b"not reachable yet"
               in replay.log.read_bytes(), 30, replay)
    time.sleep(1)
    broker = stack.spawn("broker", ["broker"], env)
    wait_until("the broker address", (data / "broker.json").exists, 30, broker)
    assert replay.popen.wait(60) == 0, replay.tail()
    bootstrap = json.loads((data / "broker.json").read_text())["bootstrap"]
    sent = sum(1 for line in recording.read_bytes().splitlines() if line.strip())
    assert len(frames(read_topic(bootstrap, "ticks.raw"))) == sent
