"""The drift timer, the live PR-AUC and the archive inside the live worker."""

from __future__ import annotations

import math

from models.features import FEATURES
from tests.stack import http_get, metric, samples, wait_until


def test_drift_timer_serves_report_and_gauges(live):
    summary = wait_until("a drift check", lambda: live.get("/api/drift")[0] == 200
                         and live.get("/api/drift")[1], 120, live.worker)
    assert summary["status"] == "ok" and summary["model_version"] == "1"
    assert set(summary["feature_drift"]) == set(FEATURES)
    assert 0.0 <= summary["drift_share"] <= 1.0 and summary["current_rows"] >= 50

    status, body = http_get(live.worker.url + "/drift", timeout=10)
    assert status == 200 and b"<html" in body[:2000].lower()
    status, page = http_get(live.worker.url + "/")
    assert b'href="/drift"' in page

    url = live.worker.url + "/metrics"
    assert metric(url, "volspike_drift_share") is not None
    assert {s[0]["feature"] for s in samples(url, "volspike_feature_drift")} == set(FEATURES)
    assert metric(url, "volspike_prediction_drift") is not None
    assert metric(url, "volspike_archive_rows_total") > 0


def test_live_pr_auc_beside_the_baselines(live):
    """Gauges for the model and both baselines once windows are labelled; their values equal
    offline evaluation (tests/models/test_live.py). NaN while no labelled window is positive:
    the live feed's seed spikes less than the champion's training τ expects."""
    url = live.worker.url + "/metrics"
    wait_until("labelled live windows", lambda: (metric(url, "volspike_live_labelled_windows")
                                                  or 0) > 100, 120, live.worker)
    values = wait_until("the live PR-AUC gauges", lambda: {
        labels["model"]: v for labels, v in samples(url, "volspike_live_pr_auc")}, 30, live.worker)
    assert set(values) == {"model", "persistence", "har_logistic"}
    assert all(math.isnan(v) or 0.0 < v <= 1.0 for v in values.values()), values
