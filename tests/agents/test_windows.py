"""The windows agent: ticks → event-time bars → scores, dead letters, acks after close."""

from __future__ import annotations

import asyncio
import base64

from prometheus_client import REGISTRY

from tests.agents.fixtures import T0, feed, quotes, ticker, trade


def metric(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_each_closed_window_is_scored_once_and_acked_only_after_close(run, topic_reader):
    from agents.archive import archiver
    from tables.bars import product_state

    events = run(feed(quotes("A1-USD", 5), "A1-USD"))

    scores = topic_reader("scores", {"A1-USD"})
    # the bar of second 4 is still open: no tick has passed its end yet
    assert [s["id"] for s in scores] == [f"A1-USD:{T0 + k}" for k in range(1, 5)]
    assert all(s["model_version"] == "persistence" for s in scores)  # no champion here
    assert all(len(s["features"]) == 18 for s in scores)
    # a tick is acked (its offset may be committed) only once its bar is written, and not
    # past the first message that closed a bar not archived yet (a restart sends those again)
    assert [e.message.acked for e in events] == [True] * 5 + [False] * 15
    run(archiver.flush())
    assert [e.message.acked for e in events] == [True] * 16 + [False] * 4
    assert run(_state("A1-USD", product_state))["bar"]["start"] == T0 + 3
    assert metric("volspike_ticks_total", product="A1-USD", source="replay") == 20


def test_ticks_are_counted_per_source_named_by_the_publisher(run):
    run(feed(quotes("S1-USD", 2), "S1-USD", source="coinbase"))
    run(feed(quotes("S1-USD", 2, start=T0 + 2), "S1-USD", source=None))
    assert metric("volspike_ticks_total", product="S1-USD", source="coinbase") == 8
    assert metric("volspike_ticks_total", product="S1-USD", source="unknown") == 8


class BrokenModel:
    """A champion whose predict raises, as a corrupt or mismatched booster would."""

    name, version, threshold = "volspike-xgb", "7", 0.4

    def predict_many(self, rows):
        raise ValueError("feature shape mismatch")


def test_a_model_that_fails_to_score_falls_back_to_the_baseline_and_is_counted(
    run, topic_reader
):
    from agents.scoring import scorer

    before = metric("volspike_scoring_errors_total")
    serving, scorer.model = scorer.model, BrokenModel()
    try:
        run(feed(quotes("E1-USD", 4), "E1-USD"))
    finally:
        scorer.model = serving
    scores = topic_reader("scores", {"E1-USD"})
    assert [s["id"] for s in scores] == [f"E1-USD:{T0 + k}" for k in range(1, 4)]
    assert {s["model_version"] for s in scores} == {"persistence"}
    assert metric("volspike_scoring_errors_total") == before + 3


async def _state(product, table):
    return table[product]


def test_malformed_messages_go_to_the_dead_letter_topic_and_the_agent_goes_on(
    run, topic_reader
):
    good = quotes("B1-USD", 4)
    garbage = [b"{not json", b'{"channel":"ticker","timestamp":"2026-01-01T00:00:01Z",'
               b'"sequence_num":5,"events":[{"tickers":[{"product_id":"B1-USD",'
               b'"price":"0","best_bid":"1","best_ask":"2"}]}]}']
    before = metric("volspike_rejected_ticks_total", reason="invalid_json")
    run(feed(good[:5] + garbage + good[5:], "B1-USD"))

    dead = [d for d in topic_reader("ticks.dlq")
            if base64.b64decode(d["raw_b64"]) in garbage]
    assert sorted(d["reason"] for d in dead) == ["invalid_json", "non_positive_price"]
    assert all(d["topic"] == "ticks.raw" and d["detail"] for d in dead)
    assert metric("volspike_rejected_ticks_total", reason="invalid_json") == before + 1
    # the ticks around the garbage still close their bars
    assert len(topic_reader("scores", {"B1-USD"})) == 3


def test_duplicate_and_late_ticks_change_nothing(run, topic_reader):
    clean = quotes("C1-USD", 6) + [trade("C1-USD", T0 + 6.5, 100.0, 0.5, 1, 99)]
    run(feed(clean, "C1-USD"))
    reference = {s["id"]: s for s in topic_reader("scores", {"C1-USD"})}

    noisy = quotes("C2-USD", 6)
    noisy.insert(9, noisy[8])  # the feed sent a quote twice
    noisy.append(ticker("C2-USD", T0 + 1.5, 99.0, 99.02, 1000))  # second 1 closed long ago
    noisy.append(trade("C2-USD", T0 + 6.5, 100.0, 0.5, 1, 99))
    run(feed(noisy, "C2-USD"))

    scores = {s["id"].replace("C2-", "C1-"): s for s in topic_reader("scores", {"C2-USD"})}
    for s in scores.values():
        s["id"], s["product"] = s["id"].replace("C2-", "C1-"), "C1-USD"
        s["bar"]["product"] = "C1-USD"
    assert scores == reference
    assert metric("volspike_duplicate_ticks_total", product="C2-USD") == 1
    assert metric("volspike_late_ticks_total", product="C2-USD") == 1


def test_a_batched_message_is_read_frame_by_frame(run, topic_reader):
    from agents.windows import windows
    from app.core import app

    ticks = quotes("F1-USD", 5)
    garbage = b'{"channel":"ticker","events":[{"tickers":[{"product_id":"F1-USD"'
    frames = ticks[:10] + [garbage] + ticks[10:]

    async def put_batch() -> None:
        from agents.scoring import scorer

        await scorer.ensure_loaded()  # as the worker does at start: one message, no time to load
        async with windows.test_context() as agent:
            await agent.put(b"\n".join(frames), key=b"F1-USD",
                            headers={"source": b"replay", "frames": str(len(frames)).encode()})
            for _ in range(200):  # one message: let the agent finish it before the context ends
                if metric("volspike_windows_scored_total", product="F1-USD") == 4:
                    break
                await asyncio.sleep(0.05)
        await app.producer.flush()

    run(put_batch())
    dead = [d for d in topic_reader("ticks.dlq") if base64.b64decode(d["raw_b64"]) == garbage]
    # the same windows as when each feed message comes alone
    assert [s["id"] for s in topic_reader("scores", {"F1-USD"})] == [
        f"F1-USD:{T0 + k}" for k in range(1, 5)]
    assert [(d["reason"], d["frame"]) for d in dead] == [("invalid_json", 10)]
    assert metric("volspike_ticks_total", product="F1-USD", source="replay") == 20


def test_old_records_are_purged_a_batch_at_a_time_and_never_unacked_ones(monkeypatch):
    """An archive roll can release thousands of acks at once: the records they free go a
    batch per message, or deleting them all would stall the stream (tombstones, RocksDB)."""
    from collections import deque
    from types import SimpleNamespace

    from faust.types import TP

    import agents.windows as windows
    from models.bars import BarBuilder
    from models.features import History
    from tables.bars import window_range

    tp = TP("ticks.raw", 0)
    state = windows.ProductState(BarBuilder("PURGE-USD"), History(), tp)
    state.stored = deque((s, s, s) for s in range(100))  # (first, last start, offset)
    table = {("PURGE-USD", window_range(s)): {} for s in range(100)}
    monkeypatch.setattr(windows, "bars", SimpleNamespace(table=table))
    stage = windows.WindowStage()
    stage.pending[tp] = deque([(70, None)])  # offsets from 70 on are not acked yet
    now = 10**6  # every record is past the retention
    stage._purge(state, now)
    assert len(table) == 100 - windows.PURGE_BATCH
    for _ in range(10):
        stage._purge(state, now)
    assert sorted(key[1][0] for key in table) == list(range(70, 100))
    assert [first for first, _, _ in state.stored] == list(range(70, 100))


def test_a_release_while_a_message_is_handled_never_acks_that_message():
    """A score batch or an archive file done while the stage waits in the middle of a
    message releases acks; the message itself must wait until its ticks are applied."""
    from collections import deque

    from faust.types import TP

    import agents.windows as windows

    class Event:
        acked = False

        def ack(self) -> None:
            self.acked = True

    tp = TP("ticks.raw", 3)
    stage = windows.WindowStage()
    events = {offset: Event() for offset in (3, 4, 5, 6)}
    stage.pending[tp] = deque(events.items())
    stage.processing = (tp, 5)
    stage._release(tp)
    assert [o for o, e in events.items() if e.acked] == [3, 4]
    stage.processing = None
    stage._release(tp)
    assert all(e.acked for e in events.values())
