"""Recent scores and alerts per product, in memory, for the web view.

The dashboard needs the last ~15 minutes of price, volatility and probability
per product. Reading them back from the windowed bars table outside a stream
is awkward (`.current()` raises there) and costs a RocksDB read per second of
history, so the agents hand every score and alert to these bounded ring
buffers as they make them. They hold what this worker scored: the partitions
it owns, which is also where /api/products/{id} routes a product's requests.
"""

from __future__ import annotations

from collections import deque

from app.records import Alert

#: one point per closed 1-second window: 15 minutes and a margin
SCORES_KEPT = 1000
ALERTS_KEPT = 200

_points: dict[str, deque[dict]] = {}
_alerts: deque[dict] = deque(maxlen=ALERTS_KEPT)


def record_score(score: dict, price: float | None) -> None:
    """Keep a score (as sent on `scores`) and its bar's close mid as a chart point (the
    windows stage sets the live gauges, once per product per message)."""
    product, end = score["product"], score["window_end"]
    points = _points.get(product)
    if points is None:
        points = _points[product] = deque(maxlen=SCORES_KEPT)
    if points and end <= points[-1]["t"]:
        return  # a re-sent score after a restart or rebalance
    if price <= 0:  # a bar of trades only has no quote: carry the last mid
        price = points[-1]["mid"] if points else None
    points.append({
        "t": end,
        "mid": price,
        "rv": score["features"].get("rv_60"),
        "p": score["probability"],
        "threshold": score["threshold"],
    })


def record_alert(alert: Alert) -> None:
    if any(kept["id"] == alert.id for kept in _alerts):
        return
    _alerts.append({
        "id": alert.id, "product": alert.product, "window_end": alert.window_end,
        "severity": alert.severity, "probability": alert.probability,
        "threshold": alert.threshold, "model_version": alert.model_version,
        "drivers": alert.drivers,
    })


def points(product: str, since: float | None = None, span: float = 900.0) -> list[dict]:
    """Chart points of `product` newer than `since`, at most `span` seconds back."""
    kept = _points.get(product)
    if not kept:
        return []
    floor = kept[-1]["t"] - span
    if since is not None:
        floor = max(floor, since)
    return [p for p in kept if p["t"] > floor]


def alerts(product: str | None = None, limit: int = 50) -> list[dict]:
    """The newest alerts first, optionally of one product."""
    # several products alert out of event-time order across partitions: sort, newest first
    newest = sorted(_alerts, key=lambda a: a["window_end"], reverse=True)
    out = [a for a in newest if product is None or a["product"] == product]
    return out[:limit]
