"""models.features against an independent, vectorised pandas reference."""

from __future__ import annotations

import hashlib
import importlib.util
import math
import random
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import models.features as features
from models.bars import Bar
from models.features import (
    FEATURE_SPEC_HASH,
    FEATURES,
    MAX_GAP_SECONDS,
    RATE_FLOOR,
    SPAN,
    VAR_FLOOR,
    History,
    as_dict,
    compute,
)
from tests.models.fixtures import random_bar, random_bars

REL = 1e-12


def floored(value: float, floor: float) -> float:
    return value if value > floor else floor


COLUMNS = ("mid_close", "mid_high", "mid_low", "ticks", "trades", "volume", "buy_volume",
           "quotes", "spread_bps_sum", "sum_sq_ret")


def reference(bars: list[Bar]) -> dict[str, float]:
    """The features of the newest bar of `bars` (a product's bars so far), from the definitions.

    Independent of `History`: finds the current segment (after the last gap longer than
    MAX_GAP_SECONDS) and the span [t-300, t] itself, then works on a dense per-second frame.
    """
    starts = np.array([b.start for b in bars])
    breaks = np.flatnonzero(np.diff(starts) > MAX_GAP_SECONDS)
    segment = bars[breaks[-1] + 1 :] if breaks.size else bars
    t = segment[-1].start
    window = [b for b in segment if b.start >= t - SPAN]

    frame = pd.DataFrame(
        {c: [getattr(b, c) for b in window] for c in COLUMNS}, index=[b.start for b in window]
    ).reindex(pd.RangeIndex(t - SPAN, t + 1))  # 301 seconds; empty ones are NaN
    n = len(frame)
    dense = {c: frame[c].fillna(0.0).to_numpy() for c in COLUMNS}

    def last(column: str, h: int) -> float:
        return float(dense[column][-h:].sum())

    # M_s: the close mid carried forward over empty or unquoted seconds (NaN before any)
    mid = frame["mid_close"].where(frame["mid_close"] > 0.0).ffill().to_numpy()
    ret = np.log(mid[1:] / mid[:-1])  # r_s = log(M_s / M_{s-1}) ...
    sq = np.concatenate([[0.0], np.nan_to_num(ret, nan=0.0) ** 2])  # ... else 0
    var = {h: float(sq[-h:].sum()) for h in (10, 30, 60, 300)}
    rate300 = var[300] / 300
    out = {f"rv_{h}": math.sqrt(v) for h, v in var.items()}
    for h in (10, 30, 60):
        out[f"vr_{h}_300"] = math.sqrt((var[h] / h) / floored(rate300, VAR_FLOOR))

    out["tick_var_ratio_60_300"] = (last("sum_sq_ret", 60) / 60) / floored(
        last("sum_sq_ret", n) / n, VAR_FLOOR
    )

    scale60 = math.sqrt(max(rate300, VAR_FLOOR) * 60)
    m_now, m_then = mid[-1], mid[-61]  # seconds t and t-60
    both = np.isfinite(m_now) and np.isfinite(m_then)
    out["abs_ret_z_60"] = abs(math.log(m_now / m_then)) / scale60 if both else 0.0
    highs, lows = dense["mid_high"][-60:], dense["mid_low"][-60:]
    if (highs > 0).any() and (lows > 0).any():
        out["range_z_60"] = math.log(highs.max() / lows[lows > 0].min()) / scale60
    else:
        out["range_z_60"] = 0.0

    def mean_spread(h: int) -> float:
        quotes = last("quotes", h)
        return last("spread_bps_sum", h) / quotes if quotes else 0.0

    spread300 = mean_spread(n)
    spread10 = mean_spread(10)
    if spread10 == 0.0:
        spread10 = spread300  # nothing quoted (or only locked quotes) in the last 10 s
    out["spread_bps_60"] = mean_spread(60)
    out["spread_ratio_10_300"] = spread10 / floored(spread300, RATE_FLOOR) if spread300 else 1.0

    def rate_ratio(column: str, h: int) -> float:
        long = last(column, n) / n
        return (last(column, h) / h) / floored(long, RATE_FLOOR) if long else 0.0

    out["tick_rate_ratio_10_300"] = rate_ratio("ticks", 10)
    out["tick_rate_ratio_60_300"] = rate_ratio("ticks", 60)
    out["trade_rate_ratio_60_300"] = rate_ratio("trades", 60)
    out["volume_ratio_60_300"] = rate_ratio("volume", 60)
    vol60 = last("volume", 60)
    out["buy_imbalance_60"] = (last("buy_volume", 60) * 2 - vol60) / vol60 if vol60 > 0 else 0.0
    out["coverage_300"] = len(window) / n
    assert set(out) == set(FEATURES)
    return out


def assert_matches(got: list[float], want: dict[str, float], context: str) -> None:
    for name, value in zip(FEATURES, got, strict=True):
        assert math.isclose(value, want[name], rel_tol=REL, abs_tol=1e-300), (
            f"{context}: {name} = {value!r}, reference {want[name]!r}"
        )


def check_sequence(bars: list[Bar], rng: random.Random, checks: int, tag: str) -> int:
    """Push every bar; compare at `checks` random points, at every reset and at the end."""
    history = History()
    picked = set(rng.sample(range(len(bars)), min(checks, len(bars)))) | {len(bars) - 1}
    compared = 0
    for i, bar in enumerate(bars):
        history.push(bar)
        reset = i > 0 and bar.start - bars[i - 1].start > MAX_GAP_SECONDS
        if i in picked or reset:
            got = compute(history)
            assert_matches(got, reference(bars[: i + 1]), f"{tag} bar {i}")
            compared += 1
        elif i % 5 == 0:
            got = compute(history)
        else:
            continue
        assert len(got) == len(FEATURES)
        assert all(math.isfinite(x) for x in got), f"{tag} bar {i}: {as_dict(got)}"
    return compared


# --------------------------------------------------------------------------- parity


SEEDS = {"dense": 11, "gappy": 12, "resets": 13, "unquoted": 14, "sparse": 15}


@pytest.mark.parametrize("flavour", list(SEEDS))
def test_compute_matches_the_reference_on_random_sequences(flavour):
    params = {
        "dense": dict(p_skip=0.02, p_reset=0.0, p_unquoted=0.02),
        "gappy": dict(p_skip=0.4, p_reset=0.0, p_unquoted=0.15),
        "resets": dict(p_skip=0.2, p_reset=0.03, p_unquoted=0.15),
        "unquoted": dict(p_skip=0.2, p_reset=0.01, p_unquoted=0.7),
        "sparse": dict(p_skip=0.9, p_reset=0.02, p_unquoted=0.3),
    }[flavour]
    rng = random.Random(SEEDS[flavour])
    compared = 0
    for k in range(60):  # 5 flavours × 60 = 300 sequences
        n = rng.randint(1, 500)
        bars = random_bars(rng, n, **params)
        compared += check_sequence(bars, rng, checks=3, tag=f"{flavour} #{k} (n={n})")
    assert compared >= 180  # at least 3 comparisons per sequence


def test_first_bar_alone():
    rng = random.Random(1)
    for quoted in (True, False):
        bar = random_bar(rng, "BTC-USD", 1_763_600_000, 100.0, 1e-3, quoted=quoted)
        history = History()
        history.push(bar)
        got = as_dict(compute(history))
        assert_matches(compute(history), reference([bar]), f"quoted={quoted}")
        assert got["rv_300"] == 0.0 and got["abs_ret_z_60"] == 0.0
        assert got["coverage_300"] == 1 / 301


def test_flat_market_hits_the_floors_without_blowing_up():
    bars = []
    for s in range(400):
        bar = Bar("BTC-USD", 1_763_600_000 + s, ticks=1, quotes=1, mid_open=100.0, mid_high=100.0,
                  mid_low=100.0, mid_close=100.0, spread_bps_sum=0.0)
        bars.append(bar)
    history = History()
    for bar in bars:
        history.push(bar)
    got = as_dict(compute(history))
    assert_matches(compute(history), reference(bars), "flat")
    assert got["rv_10"] == got["rv_300"] == got["vr_10_300"] == got["range_z_60"] == 0.0
    assert got["spread_ratio_10_300"] == 1.0 and got["coverage_300"] == 1.0
    assert got["tick_rate_ratio_10_300"] == 1.0


def test_one_jump_in_the_span():
    """A single 1% move 20 s ago: only it contributes, in every horizon that covers it."""
    t0 = 1_763_600_000
    bars = [Bar("BTC-USD", t0 + s, ticks=1, quotes=1, mid_open=m, mid_high=m, mid_low=m,
                mid_close=m) for s, m in ((s, 100.0 if s < 280 else 101.0) for s in range(301))]
    history = History()
    for bar in bars:
        history.push(bar)
    got = as_dict(compute(history))
    r = math.log(1.01)
    assert got["rv_10"] == 0.0
    assert got["rv_30"] == got["rv_60"] == got["rv_300"] == pytest.approx(abs(r), rel=1e-12)
    assert got["vr_30_300"] == pytest.approx(math.sqrt(10), rel=1e-12)
    assert got["abs_ret_z_60"] == pytest.approx(math.sqrt(5), rel=1e-12)  # |r| / sqrt(r²/300·60)
    assert_matches(compute(history), reference(bars), "jump")


def test_gap_longer_than_max_gap_resets_the_history():
    rng = random.Random(5)
    t0 = 1_763_600_000
    before = [random_bar(rng, "BTC-USD", t0 + s, 100.0, 1e-3, quoted=True) for s in range(100)]
    after_start = t0 + 99 + MAX_GAP_SECONDS + 1
    after = [random_bar(rng, "BTC-USD", after_start + s, 150.0, 1e-3, quoted=True)
             for s in range(5)]
    history = History()
    for bar in before + after:
        history.push(bar)
    assert list(history.bars) == after
    fresh = History()
    for bar in after:
        fresh.push(bar)
    assert compute(history) == compute(fresh)
    assert_matches(compute(history), reference(before + after), "reset")


def test_gap_of_exactly_max_gap_keeps_the_history():
    rng = random.Random(6)
    t0 = 1_763_600_000
    bars = [random_bar(rng, "BTC-USD", t0, 100.0, 1e-3, quoted=True),
            random_bar(rng, "BTC-USD", t0 + MAX_GAP_SECONDS, 100.0, 1e-3, quoted=True)]
    history = History()
    for bar in bars:
        history.push(bar)
    assert list(history.bars) == bars
    assert as_dict(compute(history))["coverage_300"] == 2 / 301
    assert_matches(compute(history), reference(bars), "exact gap")


def test_history_keeps_only_the_span():
    rng = random.Random(7)
    t0 = 1_763_600_000
    history = History()
    assert history.latest is None
    for s in range(0, 400, 2):
        history.push(random_bar(rng, "BTC-USD", t0 + s, 100.0, 1e-3, quoted=True))
    assert history.latest.start == t0 + 398
    assert history.bars[0].start == t0 + 398 - SPAN
    assert len(history.bars) == SPAN // 2 + 1


def test_a_history_rebuilt_from_its_last_span_gives_the_same_features_bit_for_bit():
    """What a restart relies on: the worker rebuilds a history from the bars it kept, not
    from the segment's start, and the next windows must score exactly as without the crash."""
    rng = random.Random(8)
    bars = random_bars(rng, 1500, p_skip=0.1, p_reset=0.0, p_unquoted=0.1)
    full = History()
    for bar in bars[:1000]:
        full.push(bar)
    rebuilt = History()
    for bar in bars[:1000]:
        if bar.start >= bars[999].start - SPAN - 5:
            rebuilt.push(bar)
    for bar in bars[1000:]:
        full.push(bar)
        rebuilt.push(bar)
        assert compute(rebuilt) == compute(full)


def test_window_sums_are_correctly_rounded():
    """Sums of floats are exact differences of prefix sums: math.fsum's answer."""
    rng = random.Random(9)
    t0 = 1_763_600_000
    volumes = [rng.choice([1e-8, 0.1, 3.0, 1e4]) * rng.random() for _ in range(400)]
    bars = [Bar("BTC-USD", t0 + s, ticks=1, trades=1, volume=v, buy_volume=v / 3,
                quotes=1, mid_open=100.0, mid_high=100.0, mid_low=100.0, mid_close=100.0)
            for s, v in enumerate(volumes)]
    history = History()
    for bar in bars:
        history.push(bar)
    got = as_dict(compute(history))
    long = math.fsum(volumes[-SPAN - 1:]) / (SPAN + 1)
    assert got["volume_ratio_60_300"] == math.fsum(volumes[-60:]) / 60 / long


# --------------------------------------------------------------------------- the feature spec


def test_feature_names_are_unique_and_well_formed():
    assert len(FEATURES) == len(set(FEATURES)) == 18
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in FEATURES)
    assert list(as_dict(list(range(len(FEATURES))))) == list(FEATURES)
    with pytest.raises(ValueError):
        as_dict([0.0] * (len(FEATURES) - 1))


def test_feature_spec_hash_is_pinned():
    # A deliberate change of the feature list must update this pin (and retrain the models).
    assert re.fullmatch(r"[0-9a-f]{16}", FEATURE_SPEC_HASH)
    assert FEATURE_SPEC_HASH == hashlib.sha256(
        ("1:" + ",".join(FEATURES)).encode()
    ).hexdigest()[:16]
    assert FEATURE_SPEC_HASH == "ef00321bb48c6355"


def _load_variant(source: str, name: str):
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module


@pytest.mark.parametrize(
    "edit",
    [
        lambda src: src.replace('    "coverage_300",\n', ""),  # a feature dropped
        lambda src: src.replace('    "rv_10",\n    "rv_30",\n', '    "rv_30",\n    "rv_10",\n'),
        lambda src: src.replace('"buy_imbalance_60"', '"buy_imbalance_30"'),  # renamed
        lambda src: src.replace('FEATURE_VERSION = "1"', 'FEATURE_VERSION = "2"'),
    ],
    ids=["dropped", "reordered", "renamed", "version"],
)
def test_feature_spec_hash_changes_with_the_feature_list(edit):
    source = Path(features.__file__).read_text()
    same = _load_variant(source, "features_same")
    assert same.FEATURE_SPEC_HASH == FEATURE_SPEC_HASH  # deterministic across imports
    changed_source = edit(source)
    assert changed_source != source
    changed = _load_variant(changed_source, "features_changed")
    assert changed.FEATURE_SPEC_HASH != FEATURE_SPEC_HASH



def test_a_bar_pushed_out_of_order_is_refused():
    history = History()
    rng = random.Random(3)
    history.push(random_bar(rng, "X-USD", 100, 50.0, 1e-4, quoted=True))
    with pytest.raises(ValueError, match="pushed after"):
        history.push(random_bar(rng, "X-USD", 100, 50.0, 1e-4, quoted=True))


def test_an_overflowed_bar_sum_counts_as_the_largest_float_not_a_crash():
    """Two trades of 1e308 pass the parser and make a bar's volume inf: the features stay
    computable (the worker would otherwise fail on that message at every redelivery)."""
    t0 = 1_763_600_000
    history = History()
    for s in range(3):
        history.push(Bar("BTC-USD", t0 + s, ticks=2, trades=2, quotes=1, mid_open=100.0,
                         mid_high=100.0, mid_low=100.0, mid_close=100.0,
                         volume=math.inf if s == 2 else 1.0, buy_volume=1.0))
    got = as_dict(compute(history))
    assert all(math.isfinite(v) for v in got.values())
    assert got["volume_ratio_60_300"] > 1.0
