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
import sys
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


#: Floats are summed as exact integers in units of 2**-1074, the smallest float, so the sum
#: over a window is the difference of two prefix sums, correctly rounded: O(1) per window,
#: and the same whatever came before the window (a history rebuilt after a restart, or
#: built offline, gives the same features bit for bit).
_UNIT = 1 << 1074


def _exact(x: float) -> int:
    try:
        num, den = x.as_integer_ratio()  # den is a power of two
    except (OverflowError, ValueError):  # inf or nan: only absurd sizes overflow a bar's sums
        return _LARGEST if x > 0 else -_LARGEST if x < 0 else 0
    return num << (1075 - den.bit_length())


_LARGEST = _exact(sys.float_info.max)


class History:
    """The closed bars of one product over the last `SPAN` seconds of its segment.

    Beside the bars it keeps their values per second (0 for empty seconds):
    mids and highs/lows as they are, everything `compute` sums as prefix sums
    (index i: the sum over the seconds before i).
    """

    def __init__(self) -> None:
        self.bars: deque[Bar] = deque()
        self._reset()

    def _reset(self) -> None:
        self.start = 0  # the second of index 0 in the series below
        #: raw close mid (0 without a quote), carried mid, mid high (0 without a quote),
        #: mid low (inf without a quote, so `min` skips it)
        self.mid: list[float] = []
        self.carry: list[float] = []
        self.high: list[float] = []
        self.low: list[float] = []
        #: prefix sums: squared log returns of the carried mid, in-bar squared returns,
        #: spread bps, volume, buy volume (exact, in units of 2**-1074), then counts
        self.sq: list[int] = [0]
        self.tick_var: list[int] = [0]
        self.spread: list[int] = [0]
        self.volume: list[int] = [0]
        self.buys: list[int] = [0]
        self.ticks: list[int] = [0]
        self.trades: list[int] = [0]
        self.quotes: list[int] = [0]

    def _prefixes(self) -> tuple[list[int], ...]:
        return (self.sq, self.tick_var, self.spread, self.volume, self.buys, self.ticks,
                self.trades, self.quotes)

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
            self.high.extend([0.0] * empty)
            self.low.extend([math.inf] * empty)
            for prefix in self._prefixes():
                prefix.extend([prefix[-1]] * empty)
        mid, sq = bar.mid_close, 0
        if mid > 0.0:
            if carried > 0.0 and mid != carried:
                r = math.log(mid / carried)
                sq = _exact(r * r)
            carried = mid
        self.mid.append(mid)
        self.carry.append(carried)
        self.high.append(bar.mid_high)
        self.low.append(bar.mid_low if bar.mid_low > 0.0 else math.inf)
        values = (sq, _exact(bar.sum_sq_ret), _exact(bar.spread_bps_sum), _exact(bar.volume),
                  _exact(bar.buy_volume), bar.ticks, bar.trades, bar.quotes)
        for prefix, value in zip(self._prefixes(), values, strict=True):
            prefix.append(prefix[-1] + value)
        if len(self.mid) > 4 * SPAN:  # trim now and then, not at every push
            cut = len(self.mid) - (SPAN + 1)
            self.start += cut
            for values in (self.mid, self.carry, self.high, self.low, *self._prefixes()):
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
    Written flat (no helpers, no containers): it runs once per closed bar.
    """
    n = SPAN + 1
    mid, carry = history.mid, history.carry
    size = len(mid)
    first = size - n if size > n else 0
    while first < size and mid[first] == 0.0:  # the first quoted second of the span
        first += 1
    # prefix-sum indexes of the windows ending now; a window starts no earlier than 0
    a10, a30, a60 = max(size - 10, 0), max(size - 30, 0), max(size - 60, 0)
    a300, an = max(size - SPAN, 0), max(size - n, 0)

    sq = history.sq
    top = sq[size]
    floor = first + 1 if first < size else size  # returns at or before the first quote: 0
    var10 = (top - sq[max(a10, floor)]) / _UNIT
    var30 = (top - sq[max(a30, floor)]) / _UNIT
    var60 = (top - sq[max(a60, floor)]) / _UNIT
    var300 = (top - sq[max(a300, floor)]) / _UNIT
    rate300 = var300 / SPAN
    rate_den = rate300 if rate300 > VAR_FLOOR else VAR_FLOOR

    tv = history.tick_var
    tv60, tvn = (tv[size] - tv[a60]) / _UNIT / 60, (tv[size] - tv[an]) / _UNIT / n
    scale60 = math.sqrt(max(rate300, VAR_FLOOR) * 60)
    m_now = carry[-1] if first < size else 0.0
    then = size - 61
    m_then = carry[then] if then >= first and first < size else 0.0
    abs_ret_z = abs(math.log(m_now / m_then)) / scale60 if m_now > 0 and m_then > 0 else 0.0
    hi = max(history.high[-60:], default=0.0)
    lo = min(history.low[-60:], default=math.inf)
    range_z = math.log(hi / lo) / scale60 if hi > 0 and lo < math.inf else 0.0

    quotes, spread = history.quotes, history.spread
    q, s = quotes[size], spread[size]
    q10, q60, qn = q - quotes[a10], q - quotes[a60], q - quotes[an]
    spread10 = (s - spread[a10]) / _UNIT / q10 if q10 else 0.0
    spread60 = (s - spread[a60]) / _UNIT / q60 if q60 else 0.0
    spread300 = (s - spread[an]) / _UNIT / qn if qn else 0.0
    if not spread10:
        spread10 = spread300
    spread_ratio = _ratio(spread10, spread300, RATE_FLOOR) if spread300 else 1.0

    ticks, trades, volume = history.ticks, history.trades, history.volume
    t, tr, v = ticks[size], trades[size], volume[size]
    ticks_long, trades_long = (t - ticks[an]) / n, (tr - trades[an]) / n
    vol60, vol_long = (v - volume[a60]) / _UNIT, (v - volume[an]) / _UNIT / n
    buys60 = (history.buys[size] - history.buys[a60]) / _UNIT
    return [
        math.sqrt(var10),
        math.sqrt(var30),
        math.sqrt(var60),
        math.sqrt(var300),
        math.sqrt(var10 / 10 / rate_den),
        math.sqrt(var30 / 30 / rate_den),
        math.sqrt(var60 / 60 / rate_den),
        _ratio(tv60, tvn, VAR_FLOOR),
        abs_ret_z,
        range_z,
        spread60,
        spread_ratio,
        _ratio((t - ticks[a10]) / 10, ticks_long, RATE_FLOOR) if ticks_long else 0.0,
        _ratio((t - ticks[a60]) / 60, ticks_long, RATE_FLOOR) if ticks_long else 0.0,
        _ratio((tr - trades[a60]) / 60, trades_long, RATE_FLOOR) if trades_long else 0.0,
        _ratio(vol60 / 60, vol_long, RATE_FLOOR) if vol_long else 0.0,
        (2.0 * buys60 - vol60) / vol60 if vol60 > 0 else 0.0,
        len(history.bars) / n,
    ]


def as_dict(values: list[float]) -> dict[str, float]:
    return dict(zip(FEATURES, values, strict=True))
