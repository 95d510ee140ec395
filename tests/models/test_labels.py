"""models.labels and models.dataset: future volatility labels, segments, loading recordings."""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest

from models.bars import Bar
from models.dataset import (
    ReadStats,
    build_bars,
    feature_frame,
    feature_matrix,
    iter_messages,
    iter_ticks,
    labelled,
    load,
    segments,
)
from models.features import FEATURES, MAX_GAP_SECONDS
from models.labels import HORIZON_SECONDS, future_rv, threshold
from tests.models.fixtures import (
    ADVANCED_TRADE,
    EXCHANGE_FEED,
    random_bar,
    random_bars,
)

T0 = 1_763_600_000


def quoted_bar(start: int, mid: float) -> Bar:
    return Bar("BTC-USD", start, ticks=1, quotes=1, mid_open=mid, mid_high=mid, mid_low=mid,
               mid_close=mid)


def reference_future_rv(bars: list[Bar], horizon: int) -> list[float]:
    """sqrt(sum of r_s² for s in t+1 … t+horizon) on a dense, carried-forward mid series."""
    if not bars:
        return []
    first, last = bars[0].start, bars[-1].start
    close = pd.Series({b.start: b.mid_close for b in bars}).reindex(range(first, last + 1))
    mid = close.where(close > 0.0).ffill()
    sq = (np.log(mid / mid.shift(1)) ** 2).fillna(0.0).to_numpy()
    # ahead[i] = sq[i+1] + … + sq[i+horizon]; NaN where that runs past the last second
    ahead = np.full(len(sq), np.nan)
    if len(sq) > horizon:
        windows = np.lib.stride_tricks.sliding_window_view(sq[1:], horizon).sum(axis=1)
        ahead[: len(windows)] = windows
    return [float(np.sqrt(ahead[b.start - first])) for b in bars]


# --------------------------------------------------------------------------- future_rv


def test_future_rv_small_example():
    bars = [quoted_bar(T0, 100.0), quoted_bar(T0 + 1, 101.0),
            Bar("BTC-USD", T0 + 2, ticks=1, trades=1, volume=1.0),  # no quote: mid carries
            quoted_bar(T0 + 4, 99.0)]
    got = future_rv(bars, horizon=2)
    assert got[0] == pytest.approx(abs(math.log(1.01)), rel=1e-12)  # seconds 1, 2
    assert got[1] == 0.0  # seconds 2, 3: the mid stays at 101
    assert got[2] == pytest.approx(abs(math.log(99 / 101)), rel=1e-12)  # seconds 3, 4
    assert math.isnan(got[3])  # seconds 5, 6 are past the segment
    assert future_rv(bars, horizon=4)[0] == pytest.approx(
        math.sqrt(math.log(1.01) ** 2 + math.log(99 / 101) ** 2), rel=1e-12
    )


def test_future_rv_of_nothing():
    assert future_rv([]) == []


def test_future_rv_is_nan_exactly_where_the_horizon_runs_past_the_segment():
    bars = [quoted_bar(T0 + s, 100.0 + s) for s in range(0, 200, 3)]
    got = future_rv(bars)
    last = bars[-1].start
    for bar, value in zip(bars, got, strict=True):
        assert math.isnan(value) == (bar.start + HORIZON_SECONDS > last), bar.start


def test_future_rv_ignores_the_past():
    """Nothing at or before t enters the label of the bar at t."""
    rng = random.Random(3)
    bars = random_bars(rng, 200, max_gap=MAX_GAP_SECONDS)
    base = future_rv(bars)
    i = next(j for j in range(120, 200) if bars[j].mid_close > 0.0)
    changed = list(bars)
    for j in range(i):  # rewrite the whole past, keeping the close mid at t
        changed[j] = random_bar(rng, "BTC-USD", bars[j].start, 5.0, 1e-2, quoted=True)
    got = future_rv(changed)
    assert any(a != b for a, b in zip(got[:i], base[:i], strict=True))
    # Leakage would show as an O(1) change. What remains is rounding: future_rv differences
    # a cumulative sum, so a wild past (1% returns) shifts a calm future's label by ~1e-7.
    for g, b in zip(got[i:], base[i:], strict=True):
        assert (math.isnan(g) and math.isnan(b)) or math.isclose(g, b, rel_tol=1e-5)


@pytest.mark.parametrize("horizon", [1, 7, HORIZON_SECONDS])
def test_future_rv_matches_the_reference(horizon):
    rng = random.Random(100 + horizon)
    for k in range(60):
        n = rng.randint(1, 400)
        bars = random_bars(rng, n, max_gap=MAX_GAP_SECONDS, p_unquoted=rng.choice([0.1, 0.6]))
        got = future_rv(bars, horizon)
        want = reference_future_rv(bars, horizon)
        assert len(got) == len(bars)
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            if math.isnan(w):
                assert math.isnan(g), (k, i)
            else:
                # the module differences a cumulative sum: allow its rounding, not more
                assert math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-12), (k, i, g, w)


# --------------------------------------------------------------------------- threshold


def test_threshold_is_a_quantile_of_the_finite_values():
    values = np.array([np.nan, 0.4, 0.1, np.nan, 0.3, 0.2, np.inf, -np.inf, 0.5])
    assert threshold(values, 0.5) == pytest.approx(0.3)
    assert threshold(values, 0.0) == 0.1
    assert threshold(values, 1.0) == 0.5
    assert threshold(values, 0.9) == pytest.approx(np.quantile([0.1, 0.2, 0.3, 0.4, 0.5], 0.9))


def test_threshold_needs_labelled_rows():
    with pytest.raises(ValueError, match="no labelled rows"):
        threshold(np.array([np.nan, np.nan]), 0.9)
    with pytest.raises(ValueError):
        threshold(np.array([]), 0.9)


# --------------------------------------------------------------------------- segments


def test_segments_split_on_gaps_longer_than_max_gap():
    starts = [0, 1, 2, 2 + MAX_GAP_SECONDS, 3 + 2 * MAX_GAP_SECONDS, 4 + 2 * MAX_GAP_SECONDS,
              5 + 3 * MAX_GAP_SECONDS]
    bars = [quoted_bar(T0 + s, 100.0) for s in starts]
    got = segments(bars)
    assert [[b.start - T0 for b in seg] for seg in got] == [
        [0, 1, 2, 2 + MAX_GAP_SECONDS],  # a gap of exactly MAX_GAP_SECONDS stays
        [3 + 2 * MAX_GAP_SECONDS, 4 + 2 * MAX_GAP_SECONDS],
        [5 + 3 * MAX_GAP_SECONDS],
    ]
    assert segments([]) == []
    assert [b for seg in got for b in seg] == bars


def test_segments_of_random_bars_never_hold_a_long_gap():
    rng = random.Random(9)
    bars = random_bars(rng, 2000, p_reset=0.02)
    got = segments(bars)
    assert len(got) > 10
    for seg in got:
        assert all(b.start - a.start <= MAX_GAP_SECONDS for a, b in zip(seg, seg[1:],
                                                                          strict=False))
    for a, b in zip(got, got[1:], strict=False):
        assert b[0].start - a[-1].start > MAX_GAP_SECONDS


# --------------------------------------------------------------------------- dataset.load


def test_load_fixture_files():
    frame = load([ADVANCED_TRADE, EXCHANGE_FEED])
    assert list(frame.columns) == ["product", "window_end", "segment", *FEATURES, "future_rv"]
    # closed bars only: the last second of each product stays open, as it would live
    assert frame.groupby("product").size().to_dict() == {"BTC-USD": 12, "ETH-USD": 9}
    assert not frame[list(FEATURES)].isna().any().any()
    assert np.isfinite(feature_matrix(frame)).all()
    assert feature_matrix(frame).shape == (21, len(FEATURES))
    # the two files are five minutes apart: a new segment per product
    assert frame.groupby("product")["segment"].nunique().to_dict() == {"BTC-USD": 2, "ETH-USD": 2}
    assert frame["window_end"].is_monotonic_increasing
    # a minute-long label horizon does not fit in these few seconds
    assert frame["future_rv"].isna().all()
    assert labelled(frame).empty


def test_load_fixture_files_bar_contents():
    stats = ReadStats()
    bars = build_bars(iter_ticks(iter_messages([ADVANCED_TRADE, EXCHANGE_FEED]), stats))
    assert (stats.messages, stats.control, stats.ticks, dict(stats.rejected)) == (32, 7, 28, {})
    btc = {b.start: b for b in bars["BTC-USD"]}
    eth = {b.start: b for b in bars["ETH-USD"]}
    t_at, t_ex = 1_763_647_500, 1_763_647_800  # 14:05:00 and 14:10:00 UTC

    snapshot = btc[t_at - 1]  # the market_trades snapshot reaches back a second
    assert (snapshot.trades, snapshot.quotes) == (2, 0)
    assert snapshot.volume == pytest.approx(0.01942)
    assert snapshot.buy_volume == pytest.approx(0.00412)
    second = btc[t_at + 1]  # a ticker update and a BUY trade
    assert (second.ticks, second.trades, second.quotes, second.buy_volume) == (2, 1, 1, 0.0215)
    assert eth[t_at + 1].quotes == 0 and eth[t_at + 1].mid_close == 0.0  # a SELL trade only

    # the exchange feed sends each trade on `matches` and on `ticker`: it is counted once
    first = btc[t_ex]
    assert (first.ticks, first.trades, first.volume, first.buy_volume) == (1, 1, 0.00731, 0.00731)
    eth_first = eth[t_ex]
    assert (eth_first.ticks, eth_first.trades, eth_first.buy_volume) == (1, 1, 0.0)
    assert eth_first.mid_close == pytest.approx((3028.14 + 3028.15) / 2)


def test_feature_frame_matches_history_across_products_and_gaps():
    rng = random.Random(21)
    by_product = {p: random_bars(rng, 300, product=p, p_reset=0.02)
                  for p in ("BTC-USD", "ETH-USD")}
    frame = feature_frame(by_product)
    assert len(frame) == 600
    assert not frame[list(FEATURES)].isna().any().any()
    for product, bars in by_product.items():
        rows = frame[frame["product"] == product]
        assert rows["window_end"].tolist() == [b.end for b in bars]
        assert rows["segment"].nunique() == len(segments(bars))
        labels = [x for seg in segments(bars) for x in future_rv(seg)]
        np.testing.assert_array_equal(rows["future_rv"].to_numpy(), np.array(labels))


def test_load_real_recording(coinbase_data):
    """A real recording becomes rows with finite features and some labels."""
    path = coinbase_data / "advanced-trade" / "btc-eth-usd_2026-04-04T0319Z_11min.ndjson"
    frame = load([path])
    assert set(frame["product"]) == {"BTC-USD", "ETH-USD"}
    assert len(frame) > 500
    assert np.isfinite(feature_matrix(frame)).all()
    rows = labelled(frame)
    assert 0 < len(rows) < len(frame)
    assert (rows["future_rv"] >= 0).all()
    assert 0 < threshold(frame["future_rv"].to_numpy(), 0.9) < 0.05
