"""The worker's HTTP API against a live worker fed by the simulator."""

from __future__ import annotations

import json
import re

import orjson
import pytest

from app.predict import MAX_ROWS
from models.features import FEATURE_SPEC_HASH, FEATURES
from tests.app.conftest import LIVE_PRODUCT, PRODUCTS
from tests.stack import free_port, http_get, wait_until

pytestmark = pytest.mark.integration


def test_probes_and_version(live):
    assert live.get("/health") == (200, {"status": "ok", "version": "0.1.0"})
    ready = wait_until("/ready", lambda: live.get("/ready")[0] == 200, 60, live.worker)
    assert ready and live.get("/ready")[1]["model_version"] == "1"
    status, version = live.get("/version")
    assert status == 200
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", version["git_revision"])
    assert version["feature_spec_hash"] == FEATURE_SPEC_HASH
    model = version["model"]
    assert (model["name"], model["version"], model["alias"]) == ("volspike-xgb", "1", "champion")
    assert re.fullmatch(r"[0-9a-f]{32}", model["run_id"])


def test_products_and_history(live):
    status, listing = live.get("/api/products")
    names = [p["product"] for p in listing["products"]]
    assert status == 200 and names == sorted(names) and set(names) >= {*PRODUCTS, LIVE_PRODUCT}
    status, btc = live.get("/api/products/BTC-USD")
    assert status == 200 and set(btc["features"]) == set(FEATURES)
    assert 0.0 <= btc["probability"] <= 1.0 and btc["bar"]["mid_close"] > 0
    times = [p["t"] for p in btc["points"]]
    assert times and times == sorted(set(times)) and times[-1] - times[0] <= 900
    assert {"t", "mid", "rv", "p", "threshold"} == set(btc["points"][-1])
    newer = live.get(f"/api/products/BTC-USD?since={times[-2]}")[1]["points"]
    assert newer and all(p["t"] > times[-2] for p in newer)
    assert live.get("/api/products/NOPE-USD")[0] == 404
    assert live.get("/api/products/BTC-USD?since=soon")[0] == 400


def test_alerts(live):
    alerts = live.wait_for_alerts()
    assert all(a["probability"] >= a["threshold"] for a in alerts)
    ends = [a["window_end"] for a in alerts]
    assert ends == sorted(ends, reverse=True)
    product = alerts[0]["product"]
    status, one = live.get(f"/api/alerts?product={product}&limit=1")
    assert status == 200 and len(one["alerts"]) == 1 and one["alerts"][0]["product"] == product
    for bad in ("limit=0", "limit=x", f"limit={10**6}"):
        assert live.get(f"/api/alerts?{bad}")[0] == 400


def test_predict_agrees_with_the_worker(live):
    state = live.get("/api/products/ETH-USD")[1]
    status, single = live.post("/predict", orjson.dumps(state["features"]))
    assert status == 200
    assert single["probability"] == pytest.approx(state["probability"], rel=1e-6)
    assert single["alert"] == (single["probability"] >= single["threshold"])
    assert (single["model_name"], single["model_version"]) == ("volspike-xgb", "1")
    status, batch = live.post("/predict", orjson.dumps([state["features"]] * MAX_ROWS))
    assert status == 200 and len(batch["predictions"]) == MAX_ROWS
    assert batch["predictions"][0]["probability"] == pytest.approx(single["probability"])


def test_predict_bad_requests_are_4xx(live):
    features = live.get("/api/products/BTC-USD")[1]["features"]
    cases = {
        b"{not json": 400,
        b"": 400,
        json.dumps({**features, "rv_10": float("nan")}).encode(): 422,
        orjson.dumps({**features, "rv_30": "high"}): 422,
        orjson.dumps({k: v for k, v in features.items() if k != "rv_60"}): 422,
        orjson.dumps([features, 7]): 422,
        orjson.dumps([features] * (MAX_ROWS + 1)): 413,
        b"[" + b" " * (3 << 20) + b"]": 413,
    }
    for body, want in cases.items():
        status, reply = live.post("/predict", body)
        assert status == want, (body[:80], reply)
        assert reply["error"]
    status, reply = live.post("/predict", orjson.dumps({**features, "rv_30": "high"}))
    assert reply["errors"] == [{"field": "rv_30", "error": "expected a number, got str"}]


def test_metrics(live):
    text = http_get(live.worker.url + "/metrics")[1].decode()
    for name in ("volspike_ticks_total", "volspike_windows_scored_total",
                 "volspike_scoring_seconds_bucket", "volspike_event_lag_seconds_bucket",
                 "volspike_model_info", "volspike_predict_requests_total",
                 "faust_messages_received_total"):
        assert re.search(rf"^{name}[{{ ]", text, re.M), name
    assert 'volspike_model_info{alias="champion",name="volspike-xgb",version="1"} 1.0' in text


def test_json_logs(live):
    """With -q (no startup banner) every line the worker writes is a JSON object."""
    port = free_port()
    worker = live.stack.spawn("json-worker", ["-q", "worker", "-l", "info"], {
        "VOLSPIKE_LOG_JSON": "true", "VOLSPIKE_APP_ID": "volspike-json-logs",
        "VOLSPIKE_WEB_PORT": str(port), "VOLSPIKE_DATA_DIR": str(live.stack.tmp / "json"),
    })
    wait_until("the JSON worker's /health",
               lambda: http_get(f"http://127.0.0.1:{port}/health")[0] == 200, 90, worker)
    worker.stop()
    records = [json.loads(line) for line in worker.log.read_text().splitlines()]
    assert len(records) > 10
    assert all({"ts", "level", "logger", "message"} <= set(r) for r in records)
    assert any("Starting" in r["message"] for r in records)


def test_the_start_up_heap_is_taken_out_of_gc_passes(live):
    """Full GC passes over the start-up heap stopped the loop 100-300 ms (app/heap.py)."""
    wait_until("the heap settled", lambda: "heap settled" in live.worker.log.read_text(),
               60, live.worker)
