"""models.bars: 1-second event-time bars, the watermark rule, late and duplicate ticks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from models.bars import DEFAULT_GRACE_SECONDS, Bar, BarBuilder, Outcome
from models.ticks import Tick
from tests.models.fixtures import quote, tick, trade

T = 1_763_647_500  # a whole second


def spread_bps(bid: float, ask: float) -> float:
    mid = (bid + ask) / 2
    return (ask - bid) / mid * 1e4


def feed_all(builder: BarBuilder, ticks: list[Tick]) -> tuple[list[Outcome], list[Bar]]:
    outcomes, bars = [], []
    for t in ticks:
        outcome, closed = builder.feed(t)
        outcomes.append(outcome)
        bars.extend(closed)
    return outcomes, bars


# --------------------------------------------------------------------------- contents of a bar


def test_one_second_of_ticks_builds_one_bar():
    quotes = [(99.0, 101.0), (101.0, 103.0), (97.5, 98.5), (100.0, 100.0), (100.9, 101.1)]
    ticks = [
        quote(T + 0.05, *quotes[0], price=100.25),
        trade(T + 0.10, 100.5, 1.0, True),
        quote(T + 0.20, *quotes[1], price=100.5),
        quote(T + 0.30, *quotes[2], price=103.0),
        trade(T + 0.40, 99.0, 2.0, False),
        quote(T + 0.50, *quotes[3], price=97.0),
        # an exchange-feed ticker: a quote and a trade in one tick
        tick(T + 0.90, bid=100.9, ask=101.1, price=101.0, size=0.5, buy=True),
    ]
    builder = BarBuilder("BTC-USD")
    outcomes, bars = feed_all(builder, ticks)
    assert outcomes == [Outcome.APPLIED] * len(ticks)
    assert bars == []  # still open
    outcome, (bar,) = builder.feed(quote(T + 1.5, 100.0, 100.2))
    assert outcome is Outcome.APPLIED

    mids = [100.0, 102.0, 98.0, 100.0, 101.0]
    assert (bar.product, bar.start, bar.end) == ("BTC-USD", T, T + 1)
    assert (bar.ticks, bar.trades, bar.quotes) == (7, 3, 5)
    assert bar.volume == pytest.approx(3.5)
    assert bar.buy_volume == pytest.approx(1.5)
    assert (bar.mid_open, bar.mid_high, bar.mid_low, bar.mid_close) == (100.0, 102.0, 98.0, 101.0)
    assert (bar.px_open, bar.px_high, bar.px_low, bar.px_close) == (100.25, 103.0, 97.0, 101.0)
    spreads = [spread_bps(b, a) for b, a in quotes]
    assert bar.spread_bps_sum == pytest.approx(sum(spreads), rel=1e-12)
    assert bar.spread_bps_max == pytest.approx(max(spreads), rel=1e-12)
    expected_sq = sum(math.log(b / a) ** 2 for a, b in zip(mids, mids[1:], strict=False))
    assert bar.sum_sq_ret == pytest.approx(expected_sq, rel=1e-12)
    assert bar.last_ts == T + 0.90


def test_out_of_order_ticks_inside_a_second_fold_in_arrival_order():
    builder = BarBuilder("BTC-USD")
    feed_all(builder, [quote(T + 0.7, 99.0, 101.0), quote(T + 0.2, 101.0, 103.0)])
    (bar,) = builder.close_until(T + 5)
    assert (bar.mid_open, bar.mid_close) == (100.0, 102.0)  # arrival order, not event time
    assert bar.last_ts == T + 0.7


def test_trade_only_bar_has_no_mid():
    builder = BarBuilder("BTC-USD")
    feed_all(builder, [trade(T + 0.1, 100.0, 0.1, False), trade(T + 0.6, 100.4, 0.3, True)])
    (bar,) = builder.close_until(T + 2)
    assert (bar.quotes, bar.mid_open, bar.mid_close, bar.sum_sq_ret) == (0, 0.0, 0.0, 0.0)
    assert (bar.px_open, bar.px_high, bar.px_low, bar.px_close) == (100.0, 100.4, 100.0, 100.4)
    assert (bar.trades, bar.volume, bar.buy_volume) == (2, pytest.approx(0.4), 0.3)
    assert bar.spread_bps_sum == bar.spread_bps_max == 0.0


def test_squared_returns_carry_from_the_previous_bars_close():
    builder = BarBuilder("BTC-USD")
    _, bars = feed_all(builder, [
        quote(T + 0.1, 99.0, 101.0),  # mid 100
        quote(T + 0.9, 100.0, 102.0),  # mid 101
        quote(T + 1.2, 101.0, 103.0),  # mid 102: carries log(102/101)
        trade(T + 2.5, 102.0, 1.0, True),  # a bar with no mid: the carry stays at 102
        quote(T + 3.5, 103.0, 105.0),  # mid 104: carries log(104/102)
        quote(T + 3.6, 103.0, 105.0),  # unchanged mid adds nothing
        quote(T + 4.5, 103.0, 105.0),  # opens at the carried mid: adds nothing
        quote(T + 9.0, 99.0, 101.0),
    ])
    assert [b.start for b in bars] == [T, T + 1, T + 2, T + 3, T + 4]
    assert bars[0].sum_sq_ret == pytest.approx(math.log(101 / 100) ** 2, rel=1e-12)
    assert bars[1].sum_sq_ret == pytest.approx(math.log(102 / 101) ** 2, rel=1e-12)
    assert bars[2].sum_sq_ret == 0.0
    assert bars[3].sum_sq_ret == pytest.approx(math.log(104 / 102) ** 2, rel=1e-12)
    assert bars[4].sum_sq_ret == 0.0
    assert builder.carry_mid == 104.0


def test_first_bar_has_no_carry():
    builder = BarBuilder("BTC-USD")
    feed_all(builder, [quote(T + 0.5, 99.0, 101.0)])
    (bar,) = builder.close_until(T + 2)
    assert bar.sum_sq_ret == 0.0


def test_bar_round_trips_through_a_dict():
    builder = BarBuilder("ETH-USD")
    feed_all(builder, [quote(T + 0.5, 99.0, 101.0), trade(T + 0.6, 100.0, 1.5, True)])
    (bar,) = builder.close_until(T + 2)
    data = json.loads(json.dumps(bar.to_dict()))
    assert Bar.from_dict(data) == bar


# --------------------------------------------------------------------------- closing


def test_bar_closes_only_when_event_time_passes_its_end_by_the_grace():
    builder = BarBuilder("BTC-USD")
    assert builder.grace == DEFAULT_GRACE_SECONDS == 0.25
    assert builder.feed(quote(T + 0.5, 99.0, 101.0)) == (Outcome.APPLIED, [])
    assert builder.feed(quote(T + 1.0, 99.0, 101.0)) == (Outcome.APPLIED, [])
    assert builder.feed(quote(T + 1.2, 99.0, 101.0)) == (Outcome.APPLIED, [])
    outcome, closed = builder.feed(quote(T + 1.25, 99.0, 101.0))  # exactly end + grace
    assert outcome is Outcome.APPLIED
    assert [b.start for b in closed] == [T]
    assert closed[0].ticks == 1
    assert builder.closed_through == T
    assert list(builder.open) == [T + 1]


def test_a_tick_behind_the_watermark_closes_nothing():
    builder = BarBuilder("BTC-USD", grace=0.5)
    feed_all(builder, [quote(T + 0.1, 99.0, 101.0), quote(T + 1.4, 99.0, 101.0)])
    # late within the grace: joins the still-open bar, and closes nothing
    assert builder.feed(quote(T + 0.9, 99.0, 101.0)) == (Outcome.APPLIED, [])
    outcome, (bar,) = builder.feed(quote(T + 1.5, 99.0, 101.0))
    assert bar.start == T and bar.ticks == 2


def test_a_jump_in_event_time_closes_every_due_bar_oldest_first():
    builder = BarBuilder("BTC-USD", grace=1.0)
    feed_all(builder, [
        quote(T + 0.5, 99.0, 101.0), quote(T + 1.5, 99.0, 101.0), quote(T + 2.2, 99.0, 101.0),
        quote(T + 1.9, 99.0, 101.0),  # out of order, still open
    ])
    assert sorted(builder.open) == [T + 1, T + 2]
    _, closed = builder.feed(quote(T + 10.0, 99.0, 101.0))
    assert [b.start for b in closed] == [T + 1, T + 2]
    assert [b.ticks for b in closed] == [2, 1]


def test_close_until_closes_bars_ending_at_or_before_a_time():
    builder = BarBuilder("BTC-USD", grace=5.0)
    feed_all(builder, [quote(T + s + 0.5, 99.0, 101.0) for s in range(4)])
    assert builder.close_until(T + 0.999) == []
    assert [b.start for b in builder.close_until(T + 2)] == [T, T + 1]
    assert [b.start for b in builder.close_until(T + 100)] == [T + 2, T + 3]
    assert builder.open == {}


def test_bars_are_per_builder_product():
    builder = BarBuilder("SOL-USD")
    feed_all(builder, [quote(T + 0.5, 99.0, 101.0)])
    (bar,) = builder.close_until(T + 2)
    assert bar.product == "SOL-USD"


# --------------------------------------------------------------------------- late and duplicate


def test_late_ticks_for_a_closed_second_are_dropped():
    builder = BarBuilder("BTC-USD")
    _, (bar,) = feed_all(builder, [quote(T + 0.5, 99.0, 101.0), quote(T + 1.3, 99.0, 101.0)])
    before = bar.to_dict()
    assert builder.feed(quote(T + 0.99, 50.0, 51.0)) == (Outcome.LATE, [])
    assert builder.feed(trade(T - 7.0, 50.0, 9.0, True)) == (Outcome.LATE, [])
    assert bar.to_dict() == before
    # nothing of the late ticks reaches the next bar either
    _, (nxt,) = feed_all(builder, [quote(T + 5.0, 99.0, 101.0)])
    assert (nxt.start, nxt.ticks, nxt.trades, nxt.mid_low) == (T + 1, 1, 0, 100.0)


def test_duplicate_while_the_bar_is_open():
    builder = BarBuilder("BTC-USD")
    first = trade(T + 0.2, 100.0, 1.0, True, tick_id="t42")
    assert builder.feed(first) == (Outcome.APPLIED, [])
    # the same trade again, also as an exchange ticker that carries a quote
    assert builder.feed(first) == (Outcome.DUPLICATE, [])
    again = tick(T + 0.2, bid=99.0, ask=101.0, price=100.0, size=1.0, buy=True, tick_id="t42")
    assert builder.feed(again) == (Outcome.DUPLICATE, [])
    (bar,) = builder.close_until(T + 2)
    assert (bar.ticks, bar.trades, bar.volume, bar.quotes) == (1, 1, 1.0, 0)


def test_duplicate_after_the_bar_closed_is_a_duplicate_not_late():
    builder = BarBuilder("BTC-USD")
    first = trade(T + 0.2, 100.0, 1.0, True, tick_id="t42")
    feed_all(builder, [first, quote(T + 1.5, 99.0, 101.0)])
    assert builder.closed_through == T
    assert builder.feed(first) == (Outcome.DUPLICATE, [])


def test_a_duplicate_does_not_move_the_watermark():
    builder = BarBuilder("BTC-USD")
    ahead = quote(T + 0.2, 99.0, 101.0, tick_id="q1")
    feed_all(builder, [ahead])
    replay = quote(T + 9.0, 99.0, 101.0, tick_id="q1")  # same id, later time
    assert builder.feed(replay) == (Outcome.DUPLICATE, [])
    assert builder.watermark == T + 0.2 and list(builder.open) == [T]


def test_dedupe_memory_of_closed_ticks_is_bounded():
    builder = BarBuilder("BTC-USD", dedupe_size=2)
    ticks = [trade(T + s + 0.1, 100.0, 1.0, True, tick_id=f"t{s}") for s in range(5)]
    feed_all(builder, ticks)
    assert builder.closed_through == T + 2  # T+4.1 closes the bars ending by T+3.85
    assert builder.feed(ticks[3]) == (Outcome.DUPLICATE, [])  # open
    assert builder.feed(ticks[2]) == (Outcome.DUPLICATE, [])
    assert builder.feed(ticks[1]) == (Outcome.DUPLICATE, [])
    assert builder.feed(ticks[0]) == (Outcome.LATE, [])  # forgotten, but its second is closed
    assert builder.state()["recent_ids"] == ["t1", "t2"]


# --------------------------------------------------------------------------- state round trip


def random_stream(rng: np.random.Generator, n: int) -> list[Tick]:
    """Ticks roughly in time order with reordering, late ticks, duplicates and gaps."""
    out: list[Tick] = []
    ts = float(T)
    mid = 100.0
    for i in range(n):
        ts += float(rng.exponential(0.3))
        if rng.random() < 0.02:
            ts += float(rng.uniform(2.0, 8.0))  # empty seconds
        when = ts - float(rng.uniform(0.0, 1.5)) if rng.random() < 0.2 else ts  # reordered
        if out and rng.random() < 0.05:
            out.append(out[int(rng.integers(max(0, len(out) - 30), len(out)))])  # redelivered
            continue
        mid *= math.exp(float(rng.normal(0.0, 1e-3)))
        half = mid * float(rng.uniform(1e-5, 1e-3))
        kind = rng.random()
        if kind < 0.5:
            out.append(quote(when, mid - half, mid + half, price=mid, tick_id=f"q{i}"))
        elif kind < 0.8:
            out.append(trade(when, mid, float(rng.lognormal(-3, 1)), bool(rng.random() < 0.5),
                             tick_id=f"t{i}"))
        else:
            out.append(tick(when, bid=mid - half, ask=mid + half, price=mid,
                            size=float(rng.lognormal(-3, 1)), buy=bool(rng.random() < 0.5),
                            tick_id=f"t{i}"))
    return out


@pytest.mark.parametrize("seed", range(8))
def test_state_round_trip_continues_identically(seed):
    rng = np.random.default_rng(seed)
    ticks = random_stream(rng, 600)
    grace = float(rng.choice([0.25, 0.5, 1.0]))
    dedupe = int(rng.choice([16, 512]))

    reference = BarBuilder("BTC-USD", grace=grace, dedupe_size=dedupe)
    ref_outcomes, ref_bars = feed_all(reference, ticks)
    assert Outcome.LATE in ref_outcomes and Outcome.DUPLICATE in ref_outcomes
    assert len(ref_bars) > 50

    for k in sorted(rng.choice(np.arange(10, len(ticks) - 10), size=6, replace=False)):
        first = BarBuilder("BTC-USD", grace=grace, dedupe_size=dedupe)
        feed_all(first, ticks[:k])
        state = json.loads(json.dumps(first.state()))  # what a worker would persist
        restored = BarBuilder.from_state("BTC-USD", state, grace=grace, dedupe_size=dedupe)

        # after a crash the source redelivers from the oldest tick of a still-open bar
        open_ticks = [i for i in range(k) if int(ticks[i].ts) in first.open
                      and ref_outcomes[i] is Outcome.APPLIED]
        resume = min(open_ticks, default=k)
        outcomes, bars = feed_all(restored, ticks[resume:])

        expected = [b for b in ref_bars if b.start > state["closed_through"]]
        assert bars == expected, f"seed {seed}, snapshot after {k} ticks"
        assert outcomes[k - resume:] == ref_outcomes[k:]
        # redelivered ticks of closed bars change nothing
        assert all(o is not Outcome.APPLIED for i, o in enumerate(outcomes[: k - resume])
                   if int(ticks[resume + i].ts) <= state["closed_through"])
        assert restored.state() == reference.state()
