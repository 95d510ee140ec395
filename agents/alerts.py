"""scores → alerts, with hysteresis and a cooldown per product.

A product alerts when its probability reaches the threshold while armed; it
re-arms once the probability falls `hysteresis` below the threshold, and
never alerts twice within the cooldown (event time). Scores are replayed
after a crash, so a score whose window is not newer than the last one seen
is skipped: the same scores always give the same alerts.
"""

from __future__ import annotations

import logging

from agents.scoring import scorer
from app import history, metrics
from app.core import alerts_topic, app, scores_topic
from app.records import Alert, Score, window_id
from app.settings import settings
from models.features import FEATURES
from tables.alerts import alert_state

log = logging.getLogger(__name__)


def severity(probability: float, threshold: float) -> str:
    return "critical" if probability >= threshold + (1.0 - threshold) / 2 else "warning"


def decide(state: dict | None, score: Score) -> tuple[dict, bool]:
    """The new alert state and whether this score raises an alert."""
    state = dict(state or {"armed": True, "last_alert_end": None, "last_end": None})
    if state["last_end"] is not None and score.window_end <= state["last_end"]:
        return state, False
    state["last_end"] = score.window_end
    fire = False
    if score.probability >= score.threshold:
        cooled = (
            state["last_alert_end"] is None
            or score.window_end - state["last_alert_end"] >= settings.alert_cooldown_seconds
        )
        if state["armed"] and cooled:
            fire = True
            state["armed"] = False
            state["last_alert_end"] = score.window_end
    elif score.probability < score.threshold - settings.alert_hysteresis:
        state["armed"] = True
    return state, fire


def _drivers(score: Score) -> dict[str, float]:
    """What pushed the score, when the serving model made it from a full feature vector."""
    vector = [score.features.get(name) for name in FEATURES]
    if score.model_version != scorer.version or None in vector:
        return {}
    try:
        return scorer.drivers(vector)
    except Exception as exc:  # noqa: BLE001 - an explanation must never cost the alert
        log.warning("no drivers for %s: %r", score.id, exc)
        return {}


@app.agent(scores_topic)
async def alerts(stream):
    async for score in stream:
        state, fire = decide(alert_state.get(score.product), score)
        if fire:
            level = severity(score.probability, score.threshold)
            await scorer.ensure_loaded()
            alert = Alert(
                id=window_id(score.product, score.window_end),
                product=score.product,
                window_end=score.window_end,
                severity=level,
                probability=score.probability,
                threshold=score.threshold,
                model_name=score.model_name,
                model_version=score.model_version,
                features=score.features,
                drivers=_drivers(score),
            )
            # on the broker before the state that says it was sent: a crash in between
            # then repeats the alert (same id) instead of losing it
            await (await alerts_topic.send(key=score.product.encode(), value=alert))
            history.record_alert(alert)
            metrics.ALERTS.labels(score.product, level).inc()
            log.info(
                "ALERT %s %s p=%.3f (threshold %.3f)",
                alert.id, level, score.probability, score.threshold,
            )
        alert_state[score.product] = state
