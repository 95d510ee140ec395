"""The web view's in-memory history: bounded, ordered, redeliveries ignored."""

from __future__ import annotations

import pytest

from app import history
from app.records import Alert


@pytest.fixture(autouse=True)
def empty(monkeypatch):
    monkeypatch.setattr(history, "_points", {})
    monkeypatch.setattr(history, "_alerts", type(history._alerts)(maxlen=history.ALERTS_KEPT))


def score(end: int, p: float = 0.1, product: str = "BTC-USD") -> dict:
    """A score as the windows stage sends it on `scores`."""
    return {"id": f"{product}:{end}", "product": product, "window_start": end - 1,
            "window_end": end, "features": {"rv_60": 1e-4}, "probability": p,
            "threshold": 0.5, "model_name": "m", "model_version": "1"}


def alert(end: int, product: str = "BTC-USD") -> Alert:
    return Alert(id=f"{product}:{end}", product=product, window_end=end, severity="warning",
                 probability=0.6, threshold=0.5, model_name="m", model_version="1",
                 features={}, drivers={"rv_60": 0.2})


def test_points_are_ordered_bounded_and_skip_redeliveries():
    for end in range(1, 2001):
        history.record_score(score(end), 100.0 + end)
    history.record_score(score(1500), 1.0)  # redelivered after a rebalance
    kept = history.points("BTC-USD")
    assert [p["t"] for p in kept] == list(range(1101, 2001))  # the last 900 s
    assert kept[-1] == {"t": 2000, "mid": 2100.0, "rv": 1e-4, "p": 0.1, "threshold": 0.5}
    assert [p["t"] for p in history.points("BTC-USD", since=1998)] == [1999, 2000]
    assert history.points("ETH-USD") == []


def test_a_bar_without_quotes_carries_the_last_mid():
    history.record_score(score(1), 0.0)
    history.record_score(score(2), 50.0)
    history.record_score(score(3), 0.0)
    assert [p["mid"] for p in history.points("BTC-USD")] == [None, 50.0, 50.0]


def test_alerts_newest_first_deduplicated_and_filtered():
    for end, product in [(10, "BTC-USD"), (20, "ETH-USD"), (30, "BTC-USD"), (30, "BTC-USD")]:
        history.record_alert(alert(end, product))
    assert [a["id"] for a in history.alerts()] == ["BTC-USD:30", "ETH-USD:20", "BTC-USD:10"]
    assert [a["id"] for a in history.alerts("BTC-USD", limit=1)] == ["BTC-USD:30"]
