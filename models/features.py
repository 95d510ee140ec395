"""The feature vector of a closed 1-second bar: the single source of truth.

The live worker and offline training both call `History.push` then
`compute`, so a window gets the same numbers in either place (a parity test
checks it). Features are scale-free where possible (ratios, values normalised
by trailing volatility): level features do not transfer across regimes.

Definitions, for the window ending at the newest bar's second t:
- M_s is the bar close mid of second s, carried forward over empty seconds
  within the 301-second span [t-300, t]; seconds before the first quote in
  the span have no mid.
- r_s = log(M_s / M_{s-1}) where both exist, else 0: 1-second log returns.
- rv_h = sqrt(sum of the last h squared returns): realized volatility.
"""

from __future__ import annotations

import hashlib
import math
from collections import deque

from models.bars import Bar

SPAN = 300
#: A gap longer than this between two bars of a product starts a new segment.
MAX_GAP_SECONDS = 60
VAR_FLOOR = 1e-14
RATE_FLOOR = 1e-9

FEATURES: tuple[str, ...] = (
    "rv_10",
    "rv_30",
    "rv_60",
    "rv_300",
    "vr_10_300",
    "vr_30_300",
    "vr_60_300",
    "tick_var_ratio_60_300",
    "abs_ret_z_60",
    "range_z_60",
    "spread_bps_60",
    "spread_ratio_10_300",
    "tick_rate_ratio_10_300",
    "tick_rate_ratio_60_300",
    "trade_rate_ratio_60_300",
    "volume_ratio_60_300",
    "buy_imbalance_60",
    "coverage_300",
)

FEATURE_VERSION = "1"
FEATURE_SPEC_HASH = hashlib.sha256(
    (FEATURE_VERSION + ":" + ",".join(FEATURES)).encode()
).hexdigest()[:16]


class History:
    """The closed bars of one product over the last `SPAN` seconds of its segment."""

    def __init__(self) -> None:
        self.bars: deque[Bar] = deque()

    def push(self, bar: Bar) -> None:
        bars = self.bars
        if bars and bar.start - bars[-1].start > MAX_GAP_SECONDS:
            bars.clear()
        bars.append(bar)
        oldest = bar.start - SPAN
        while bars[0].start < oldest:
            bars.popleft()

    @property
    def latest(self) -> Bar | None:
        return self.bars[-1] if self.bars else None


def _ratio(num: float, den: float, floor: float) -> float:
    return num / (den if den > floor else floor)


def compute(history: History) -> list[float]:
    """Features of the newest bar in `history`, in `FEATURES` order."""
    bars = history.bars
    t = bars[-1].start
    n = SPAN + 1
    base = t - SPAN
    mids = [0.0] * n
    high = [0.0] * n
    low = [0.0] * n
    ticks = [0] * n
    trades = [0] * n
    volume = [0.0] * n
    buys = [0.0] * n
    quotes = [0] * n
    spread = [0.0] * n
    tick_var = [0.0] * n
    present = 0
    for bar in bars:
        i = bar.start - base
        present += 1
        mids[i] = bar.mid_close
        high[i] = bar.mid_high
        low[i] = bar.mid_low
        ticks[i] = bar.ticks
        trades[i] = bar.trades
        volume[i] = bar.volume
        buys[i] = bar.buy_volume
        quotes[i] = bar.quotes
        spread[i] = bar.spread_bps_sum
        tick_var[i] = bar.sum_sq_ret
    for i in range(1, n):
        if mids[i] == 0.0:
            mids[i] = mids[i - 1]
    sq = [0.0] * n
    for i in range(1, n):
        if mids[i] > 0.0 and mids[i - 1] > 0.0 and mids[i] != mids[i - 1]:
            r = math.log(mids[i] / mids[i - 1])
            sq[i] = r * r

    def tail(values: list, h: int) -> float:
        return sum(values[n - h :])

    var = {h: tail(sq, h) for h in (10, 30, 60, SPAN)}
    rv = {h: math.sqrt(v) for h, v in var.items()}
    rate300 = var[SPAN] / SPAN
    vr = [math.sqrt(_ratio(var[h] / h, rate300, VAR_FLOOR)) for h in (10, 30, 60)]

    tick_var_ratio = _ratio(tail(tick_var, 60) / 60, tail(tick_var, n) / n, VAR_FLOOR)
    scale60 = math.sqrt(max(rate300, VAR_FLOOR) * 60)
    m_now, m_then = mids[-1], mids[n - 61]
    abs_ret_z = abs(math.log(m_now / m_then)) / scale60 if m_now > 0 and m_then > 0 else 0.0
    hi = max(high[n - 60 :])
    lo = min((x for x in low[n - 60 :] if x > 0.0), default=0.0)
    range_z = math.log(hi / lo) / scale60 if hi > 0 and lo > 0 else 0.0

    def mean_spread(h: int) -> float:
        q = tail(quotes, h)
        return tail(spread, h) / q if q else 0.0

    spread60 = mean_spread(60)
    spread300 = mean_spread(n)
    spread10 = mean_spread(10) or spread300
    spread_ratio = _ratio(spread10, spread300, RATE_FLOOR) if spread300 else 1.0

    def rate_ratio(values: list, h: int) -> float:
        long = tail(values, n) / n
        return _ratio(tail(values, h) / h, long, RATE_FLOOR) if long else 0.0

    vol60 = tail(volume, 60)
    imbalance = (2.0 * tail(buys, 60) - vol60) / vol60 if vol60 > 0 else 0.0
    return [
        rv[10],
        rv[30],
        rv[60],
        rv[SPAN],
        vr[0],
        vr[1],
        vr[2],
        tick_var_ratio,
        abs_ret_z,
        range_z,
        spread60,
        spread_ratio,
        rate_ratio(ticks, 10),
        rate_ratio(ticks, 60),
        rate_ratio(trades, 60),
        rate_ratio(volume, 60),
        imbalance,
        present / n,
    ]


def as_dict(values: list[float]) -> dict[str, float]:
    return dict(zip(FEATURES, values, strict=True))
