"""Alerts: threshold with hysteresis, cooldown, stable ids, replay-safe, decided as windows
are scored."""

from __future__ import annotations

import asyncio

import pytest

from tests.agents.fixtures import T0, feed, quotes


def decisions(probabilities: list[tuple[int, float]]) -> list[int]:
    """Window ends that alert, feeding `decide` as the windows stage does."""
    from agents.alerts import decide

    state, fired = None, []
    for end, p in probabilities:
        state, fire = decide(state, end, p, 0.5)
        if fire:
            fired.append(end)
    return fired


@pytest.mark.usefixtures("faust_app")
def test_hysteresis_and_cooldown():
    # default hysteresis 0.1, cooldown 60 s of event time
    ends = decisions([(T0 + 1, 0.6), (T0 + 2, 0.7), (T0 + 3, 0.45), (T0 + 4, 0.6),
                      (T0 + 5, 0.3), (T0 + 30, 0.9), (T0 + 70, 0.2), (T0 + 71, 0.8)])
    # 2: still above; 4: not re-armed (0.45 is within the hysteresis band);
    # 30: re-armed but inside the cooldown; 71: re-armed and cooled down
    assert ends == [T0 + 1, T0 + 71]


@pytest.mark.usefixtures("faust_app")
def test_a_redelivered_window_gives_no_second_alert():
    ends = decisions([(T0 + 1, 0.9), (T0 + 1, 0.9), (T0 + 2, 0.1), (T0 + 1, 0.9)])
    assert ends == [T0 + 1]


class ScriptedModel:
    """A champion whose probabilities are given in advance, one per window scored."""

    name, version, threshold = "volspike-xgb", "9", 0.5

    def __init__(self, probabilities: list[float]) -> None:
        self.probabilities = list(probabilities)

    def predict_many(self, rows):
        out, self.probabilities = self.probabilities[:len(rows)], self.probabilities[len(rows):]
        return __import__("numpy").asarray(out)


def test_the_windows_stage_publishes_alerts_with_stable_ids_and_saves_their_state(
    run, topic_reader
):
    from agents.scoring import scorer
    from tables.bars import bars

    run(scorer.ensure_loaded())  # as the worker does at start, before any model swap
    serving, scorer.model = scorer.model, ScriptedModel([0.2, 0.97, 0.99, 0.1])
    try:
        run(feed(quotes("AL-USD", 5), "AL-USD"))
    finally:
        scorer.model = serving
    scores = topic_reader("scores", {"AL-USD"})
    assert [s["probability"] for s in scores] == [0.2, 0.97, 0.99, 0.1]
    [alert] = topic_reader("alerts", {"AL-USD"})
    assert alert["id"] == f"AL-USD:{T0 + 2}"
    assert alert["severity"] == "critical" and alert["probability"] == 0.97
    assert alert["threshold"] == 0.5 and alert["model_version"] == "9"
    # what a restart resumes from: the alert state and the windows that alerted, per record
    records = [v for k, v in bars.table.items() if k[0] == "AL-USD"]
    assert [end for r in records for end in r["fired"]] == [T0 + 2]
    assert records[-1]["alert"] == {"armed": True, "last_alert_end": T0 + 2,  # 0.1 re-armed
                                    "last_end": T0 + 4}


def test_an_alert_names_the_inputs_that_drove_it(run, topic_reader):
    from agents.alerts import send_alert
    from agents.scoring import scorer
    from models.features import FEATURES

    run(scorer.ensure_loaded())
    assert scorer.version == "persistence"  # no champion in these tests
    score = {"id": f"AD-USD:{T0 + 9}", "product": "AD-USD", "window_start": T0 + 8,
             "window_end": T0 + 9, "features": {name: 1e-4 for name in FEATURES},
             "probability": 0.6, "threshold": 0.5, "model_name": "persistence",
             "model_version": "persistence"}

    async def send() -> None:
        from app.core import app

        await send_alert(score)
        await app.producer.flush()

    run(send())
    [alert] = topic_reader("alerts", {"AD-USD"})
    assert alert["severity"] == "warning"
    assert alert["drivers"] == {"rv_60": 1e-4}  # the persistence baseline's one input


def test_a_restart_sends_the_saved_verdicts_again_whatever_model_serves_now(run, topic_reader):
    """Windows re-sent after a restart (their record written at or after the offset the
    partition resumes from) carry the verdicts and alerts they had, not a new model's."""
    from agents.scoring import scorer
    from agents.windows import stage
    from tests.agents.fixtures import ticker

    run(scorer.ensure_loaded())
    serving, scorer.model = scorer.model, ScriptedModel([0.2, 0.97, 0.99, 0.1])
    try:
        run(feed(quotes("RS-USD", 5), "RS-USD"))
    finally:
        scorer.model = serving  # the persistence baseline serves from here on
    first = topic_reader("scores", {"RS-USD"})
    [alert] = topic_reader("alerts", {"RS-USD"})

    stage.on_revoked(set(stage.pending))  # the partition is lost, then assigned again

    async def one_more_tick() -> None:
        from agents.archive import archiver
        from agents.windows import windows
        from app.core import app

        async with windows.test_context() as agent:
            await agent.put(ticker("RS-USD", T0 + 5.5, 99.0, 99.02, 999), key=b"RS-USD")
            for _ in range(200):  # one message: let the agent finish it before the context ends
                if archiver.count >= 4:  # the four windows re-sent, to the archive too
                    break
                await asyncio.sleep(0.05)
        await app.producer.flush()

    run(one_more_tick())

    scores = topic_reader("scores", {"RS-USD"})
    again = scores[len(first):]
    assert [s["id"] for s in again] == [s["id"] for s in first]
    assert again == first  # same probabilities and model version, not persistence's
    assert topic_reader("alerts", {"RS-USD"}) == [alert, alert]
