"""A real recording through the real embedded broker and a real worker process."""

from __future__ import annotations

import base64
import math
from collections import Counter
from pathlib import Path

import pytest

from models.features import FEATURES
from tests.integration.fixtures import EXCHANGE, RECORDING, expected_windows
from tests.stack import read_json, samples, wait_until

pytestmark = pytest.mark.integration


GARBAGE = [
    (b'{"channel":"ticker","timestamp":', "invalid_json"),
    (b"\xff\xfe not utf-8 \xc3\x28", "not_utf8"),
    (b'{"channel":"ticker","client_id":"","timestamp":"2026-04-04T03:20:00.000000000Z",'
     b'"sequence_num":99999,"events":[{"type":"update","tickers":[{"type":"ticker",'
     b'"product_id":"BTC-USD","price":"-5","best_bid":"66850.1","best_ask":"66850.2"}]}]}',
     "non_positive_price"),
    (b'{"channel":"level2","events":[]}', "unknown_channel"),
    (b'{"channel":"ticker","timestamp":"2026-04-04T03:21:00Z","sequence_num":1,'
     b'"events":[{"type":"update","tickers":[{"type":"ticker","price":"1",'
     b'"best_bid":"1","best_ask":"1"}]}]}', "missing_field"),
]


def with_garbage(path: Path, out: Path) -> Path:
    """The recording with a malformed line after every 400th line."""
    lines = path.read_bytes().splitlines()
    with open(out, "wb") as fh:
        for i, line in enumerate(lines):
            fh.write(line + b"\n")
            if i % 400 == 200 and i // 400 < len(GARBAGE):
                fh.write(GARBAGE[i // 400][0] + b"\n")
    return out


def scores_after_replay(stack, recordings: list[Path], replay_args: list[str], expected: int,
                        run: str = "") -> tuple[list, list]:
    """Replay into a fresh broker and worker; (scores, dead letters) once all scores arrived."""
    broker = stack.start_broker(f"broker{run}")
    worker = stack.start_worker(f"worker{run}")
    counts = stack.run(["replay", *map(str, recordings), *replay_args])
    assert counts["BTC-USD"] > 0 and counts["ETH-USD"] > 0
    wait_until(f"{expected} scores", lambda: len(read_json(stack.bootstrap, "scores")) >= expected,
               180, worker)
    ticks = samples(worker.url + "/metrics", "volspike_ticks_total")
    assert {labels["source"] for labels, _ in ticks} == {"replay"}  # named by the publisher
    topics = read_json(stack.bootstrap, "scores"), read_json(stack.bootstrap, "ticks.dlq")
    worker.kill()
    broker.kill()
    return topics


def test_replay_scores_every_window_once_and_dead_letters_garbage(stack, coinbase_data, tmp_path):
    recordings = [coinbase_data / EXCHANGE, coinbase_data / RECORDING]
    expected = expected_windows(*recordings)
    dirty = [recordings[0], with_garbage(recordings[1], tmp_path / "dirty.ndjson")]
    scores, dead = scores_after_replay(stack, dirty, ["--max"], len(expected))

    assert any(s["id"].startswith("BTC-USD:1763") for s in scores)  # the Exchange feed's
    ids = Counter(score["id"] for score in scores)
    assert not [i for i, n in ids.items() if n > 1], "a window was scored twice"
    assert set(ids) == set(expected)
    # the live features are the offline ones: one formula, one code path
    for score in scores:
        want = expected[score["id"]]
        for name in FEATURES:
            assert math.isclose(score["features"][name], want[name], rel_tol=1e-9, abs_tol=1e-12)
        assert 0.0 <= score["probability"] <= 1.0
        assert score["model_name"] == "volspike-xgb" and score["model_version"] == "1"

    assert sorted(d["reason"] for d in dead) == sorted(reason for _, reason in GARBAGE)
    raw = {base64.b64decode(d["raw_b64"]) for d in dead}
    assert raw == {line for line, _ in GARBAGE}


def test_replay_speed_does_not_change_scores(stack, coinbase_data):
    recording = [coinbase_data / RECORDING]
    expected = len(expected_windows(*recording))
    fast, _ = scores_after_replay(stack, recording, ["--max"], expected, run="-max")
    slow, _ = scores_after_replay(stack, recording, ["--speed", "40"], expected, run="-x40")
    assert len(fast) == len(slow) == expected
    assert {s["id"]: s for s in fast} == {s["id"]: s for s in slow}
