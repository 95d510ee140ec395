"""scores → alerts: threshold with hysteresis, cooldown, stable ids, replay-safe."""

from __future__ import annotations

import pytest

from tests.agents.fixtures import T0


def score(product: str, end: int, probability: float, threshold: float = 0.5, features=None):
    from app.records import Score, window_id
    from models.features import FEATURES

    return Score(
        id=window_id(product, end), product=product, window_start=end - 1, window_end=end,
        features=features or {name: 1e-4 for name in FEATURES}, probability=probability,
        threshold=threshold,
        model_name="persistence", model_version="persistence",
    )


def decisions(product: str, probabilities: list[tuple[int, float]]) -> list[int]:
    """Window ends that alert, feeding `decide` as the agent does."""
    from agents.alerts import decide

    state, fired = None, []
    for end, p in probabilities:
        state, fire = decide(state, score(product, end, p))
        if fire:
            fired.append(end)
    return fired


@pytest.mark.usefixtures("faust_app")
def test_hysteresis_and_cooldown():
    # default hysteresis 0.1, cooldown 60 s of event time
    ends = decisions("X", [(T0 + 1, 0.6), (T0 + 2, 0.7), (T0 + 3, 0.45), (T0 + 4, 0.6),
                           (T0 + 5, 0.3), (T0 + 30, 0.9), (T0 + 70, 0.2), (T0 + 71, 0.8)])
    # 2: still above; 4: not re-armed (0.45 is within the hysteresis band);
    # 30: re-armed but inside the cooldown; 71: re-armed and cooled down
    assert ends == [T0 + 1, T0 + 71]


@pytest.mark.usefixtures("faust_app")
def test_a_redelivered_score_gives_no_second_alert():
    ends = decisions("X", [(T0 + 1, 0.9), (T0 + 1, 0.9), (T0 + 2, 0.1), (T0 + 1, 0.9)])
    assert ends == [T0 + 1]


def test_alerts_agent_publishes_alerts_with_stable_ids(run, topic_reader):
    from agents.alerts import alerts
    from app.core import app

    async def feed():
        async with alerts.test_context() as agent:
            for end, p in [(T0 + 1, 0.2), (T0 + 2, 0.97), (T0 + 3, 0.99), (T0 + 4, 0.1)]:
                await agent.put(score("AL-USD", end, p), key=b"AL-USD")
            # a foreign producer's score with a partial feature vector: alerted, no drivers
            await agent.put(score("AM-USD", T0 + 9, 0.6, features={"rv_60": 1.0}), key=b"AM")
        await app.producer.flush()

    run(feed())
    [alert] = topic_reader("alerts", {"AL-USD"})
    assert alert["id"] == f"AL-USD:{T0 + 2}"
    assert alert["severity"] == "critical" and alert["probability"] == 0.97
    assert alert["threshold"] == 0.5 and alert["model_version"] == "persistence"
    assert alert["drivers"] == {"rv_60": 1e-4}  # the persistence baseline's one input
    [partial] = topic_reader("alerts", {"AM-USD"})
    assert partial["severity"] == "warning" and partial["drivers"] == {}
