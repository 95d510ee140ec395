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
    """The closed bars of one product over the last `SPAN` seconds of its segment.

    Beside the bars it keeps their values per second (0 for empty seconds),
    so `compute` sums slices instead of rebuilding 301-second arrays for
    every bar: the same numbers, added in the same order, several times faster.
    The per-second values depend only on the bars pushed, never on when
    `compute` runs, so a history rebuilt after a restart gives the same features.
    """

    #: per-second series kept beside the bars: (name, Bar attribute)
    FIELDS = (("high", "mid_high"), ("low", "mid_low"), ("ticks", "ticks"),
              ("trades", "trades"), ("volume", "volume"), ("buys", "buy_volume"),
              ("quotes", "quotes"), ("spread", "spread_bps_sum"), ("tick_var", "sum_sq_ret"))

    def __init__(self) -> None:
        self.bars: deque[Bar] = deque()
        self._reset()

    def _reset(self) -> None:
        self.start = 0  # the second of index 0 in the series below
        #: raw close mid (0 without a quote), carried mid, squared log return of the carried mid
        self.mid: list[float] = []
        self.carry: list[float] = []
        self.sq: list[float] = []
        self.series: dict[str, list] = {name: [] for name, _ in self.FIELDS}

    def push(self, bar: Bar) -> None:
        bars = self.bars
        if bars and bar.start - bars[-1].start > MAX_GAP_SECONDS:
            bars.clear()
        if bars and bar.start <= bars[-1].start:
            raise ValueError(f"bar {bar.start} pushed after bar {bars[-1].start}")
        bars.append(bar)
        oldest = bar.start - SPAN
        while bars[0].start < oldest:
            bars.popleft()
        self._extend(bar)

    def _extend(self, bar: Bar) -> None:
        if len(self.bars) == 1:
            self._reset()
            self.start = bar.start
        empty = bar.start - (self.start + len(self.mid))
        carried = self.carry[-1] if self.carry else 0.0
        if empty:
            self.mid.extend([0.0] * empty)
            self.carry.extend([carried] * empty)
            self.sq.extend([0.0] * empty)
            for values in self.series.values():
                values.extend([0] * empty)
        mid = bar.mid_close
        self.mid.append(mid)
        if mid > 0.0:
            if carried > 0.0 and mid != carried:
                r = math.log(mid / carried)
                self.sq.append(r * r)
            else:
                self.sq.append(0.0)
            carried = mid
        else:
            self.sq.append(0.0)
        self.carry.append(carried)
        for name, attr in self.FIELDS:
            self.series[name].append(getattr(bar, attr))
        if len(self.mid) > 4 * SPAN:  # trim now and then, not at every push
            cut = len(self.mid) - (SPAN + 1)
            self.start += cut
            for values in (self.mid, self.carry, self.sq, *self.series.values()):
                del values[:cut]

    @property
    def latest(self) -> Bar | None:
        return self.bars[-1] if self.bars else None


def _ratio(num: float, den: float, floor: float) -> float:
    return num / (den if den > floor else floor)


def compute(history: History) -> list[float]:
    """Features of the newest bar in `history`, in `FEATURES` order.

    Over the span [t-300, t]: mids are carried forward from the first quote
    inside the span only, so returns at or before that second count as 0.
    """
    n = SPAN + 1
    mid, carry, sq = history.mid, history.carry, history.sq
    size = len(mid)
    first = max(size - n, 0)
    while first < size and mid[first] == 0.0:  # the first quoted second of the span
        first += 1
    s = history.series

    def tail(values: list, h: int) -> float:
        return sum(values[-h:])

    def tail_sq(h: int) -> float:
        return sum(sq[max(size - h, first + 1):])

    var = {h: tail_sq(h) for h in (10, 30, 60, SPAN)}
    rv = {h: math.sqrt(v) for h, v in var.items()}
    rate300 = var[SPAN] / SPAN
    vr = [math.sqrt(_ratio(var[h] / h, rate300, VAR_FLOOR)) for h in (10, 30, 60)]

    tick_var = s["tick_var"]
    tick_var_ratio = _ratio(tail(tick_var, 60) / 60, tail(tick_var, n) / n, VAR_FLOOR)
    scale60 = math.sqrt(max(rate300, VAR_FLOOR) * 60)
    m_now = carry[-1] if first < size else 0.0
    then = size - 61
    m_then = carry[then] if then >= first and first < size else 0.0
    abs_ret_z = abs(math.log(m_now / m_then)) / scale60 if m_now > 0 and m_then > 0 else 0.0
    hi = max(s["high"][-60:], default=0.0)
    lo = min((x for x in s["low"][-60:] if x > 0.0), default=0.0)
    range_z = math.log(hi / lo) / scale60 if hi > 0 and lo > 0 else 0.0

    quotes, spread = s["quotes"], s["spread"]

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

    volume = s["volume"]
    vol60 = tail(volume, 60)
    imbalance = (2.0 * tail(s["buys"], 60) - vol60) / vol60 if vol60 > 0 else 0.0
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
        rate_ratio(s["ticks"], 10),
        rate_ratio(s["ticks"], 60),
        rate_ratio(s["trades"], 60),
        rate_ratio(volume, 60),
        imbalance,
        len(history.bars) / n,
    ]


def as_dict(values: list[float]) -> dict[str, float]:
    return dict(zip(FEATURES, values, strict=True))
