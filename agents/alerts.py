"""Alert decisions, with hysteresis and a cooldown per product.

A product alerts when its probability reaches the threshold while armed; it
re-arms once the probability falls `hysteresis` below the threshold, and
never alerts twice within the cooldown (event time). The windows stage
decides as it scores, in process: the state after each message's bars is
saved with those bars (agents/windows.py), so a restart resumes it exactly
and sends the alerts of re-sent windows again (same ids).
"""

from __future__ import annotations

import logging

from agents.scoring import scorer
from app import history, metrics
from app.core import alerts_topic
from app.records import Alert, window_id
from app.settings import settings
from models.features import FEATURES

log = logging.getLogger(__name__)


def severity(probability: float, threshold: float) -> str:
    return "critical" if probability >= threshold + (1.0 - threshold) / 2 else "warning"


def decide(state: dict | None, window_end: int, probability: float,
           threshold: float) -> tuple[dict, bool]:
    """The new alert state and whether this window raises an alert."""
    state = dict(state or {"armed": True, "last_alert_end": None, "last_end": None})
    if state["last_end"] is not None and window_end <= state["last_end"]:
        return state, False
    state["last_end"] = window_end
    fire = False
    if probability >= threshold:
        cooled = (
            state["last_alert_end"] is None
            or window_end - state["last_alert_end"] >= settings.alert_cooldown_seconds
        )
        if state["armed"] and cooled:
            fire = True
            state["armed"] = False
            state["last_alert_end"] = window_end
    elif probability < threshold - settings.alert_hysteresis:
        state["armed"] = True
    return state, fire


def _drivers(score: dict) -> dict[str, float]:
    """What pushed the score, when the serving model made it (not a scoring fallback)."""
    if score["model_version"] != scorer.version:
        return {}
    vector = [score["features"][name] for name in FEATURES]
    try:
        return scorer.drivers(vector)
    except Exception as exc:  # noqa: BLE001 - an explanation must never cost the alert
        log.warning("no drivers for %s: %r", score["id"], exc)
        return {}


async def send_alert(score: dict, again: bool = False) -> Alert:
    """Publish the alert a score (as sent on `scores`) raised; its id is the window's.

    `again`: re-sent after a restart (consumers drop it by id), so not counted twice."""
    level = severity(score["probability"], score["threshold"])
    alert = Alert(
        id=window_id(score["product"], score["window_end"]),
        product=score["product"],
        window_end=score["window_end"],
        severity=level,
        probability=score["probability"],
        threshold=score["threshold"],
        model_name=score["model_name"],
        model_version=score["model_version"],
        features=score["features"],
        drivers=_drivers(score),
    )
    await alerts_topic.send(key=alert.product.encode(), value=alert)
    history.record_alert(alert)
    if again:
        return alert
    metrics.ALERTS.labels(alert.product, level).inc()
    log.info("ALERT %s %s p=%.3f (threshold %.3f)",
             alert.id, level, alert.probability, alert.threshold)
    return alert
