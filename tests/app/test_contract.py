"""The alerts-topic contract: real messages match the published JSON Schemas, and
`python -m app alerts` prints them for people."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from jsonschema import Draft202012Validator

from app.records import Alert, Score
from tests.stack import ROOT, read_json, wait_until

pytestmark = pytest.mark.integration

SCHEMAS = ROOT / "docs" / "schemas"


@pytest.mark.parametrize(("record", "topic"), [(Score, "scores"), (Alert, "alerts")])
def test_real_messages_match_the_schema(live, record, topic):
    schema = json.loads((SCHEMAS / f"{record.__name__.lower()}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    # the schema documents every field the record has, and requires them
    assert set(schema["properties"]) - {"__faust"} == set(record._options.fields)
    assert set(schema["required"]) == set(record._options.fields)
    live.wait_for_alerts()
    messages = read_json(live.stack.bootstrap, topic)
    assert messages
    validator = Draft202012Validator(schema)
    for message in messages:
        errors = [e.message for e in validator.iter_errors(message)]
        assert not errors, (message, errors)
        assert message["id"] == f"{message['product']}:{message['window_end']}"


def test_alerts_command_prints_a_table(live):
    alerts = live.wait_for_alerts()
    done = live.cli(["alerts", "--product", alerts[0]["product"]])
    header, *rows = done.splitlines()
    assert header.split()[:3] == ["time", "(UTC)", "product"]
    ids = {a["id"] for a in alerts if a["product"] == alerts[0]["product"]}
    assert len(rows) >= len(ids) and all(alerts[0]["product"] in r for r in rows)
    assert any(f"{alerts[0]['probability']:.3f}" in r for r in rows)


def test_alerts_follow_keeps_printing(live, tmp_path):
    live.wait_for_alerts()
    out = tmp_path / "follow.txt"
    follow = subprocess.Popen(
        [sys.executable, "-m", "app", "alerts", "--follow"], cwd=ROOT, env=live.stack.env,
        stdout=open(out, "wb"), stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,  # noqa: SIM115
        start_new_session=True,
    )
    try:
        wait_until("alert rows", lambda: len(out.read_text().splitlines()) >= 2, 60)
        time.sleep(1)
        assert follow.poll() is None, "--follow exited"
    finally:
        follow.kill()
        follow.wait()
