"""Shared helpers for the `models` tests: tick and bar factories, fixture files, real data."""

from __future__ import annotations

import itertools
import math
import random
from pathlib import Path

from models.bars import Bar
from models.ticks import Tick

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "coinbase"
ADVANCED_TRADE = FIXTURES / "advanced-trade.ndjson"
EXCHANGE_FEED = FIXTURES / "exchange-feed.ndjson"

_ids = itertools.count()


def fixture_lines(path: Path) -> list[bytes]:
    """The raw lines of a hand-written fixture file, as a WebSocket would deliver them."""
    return [line for line in path.read_bytes().splitlines() if line.strip()]


def tick(
    ts: float,
    *,
    product: str = "BTC-USD",
    bid: float = 0.0,
    ask: float = 0.0,
    price: float = 0.0,
    size: float = 0.0,
    buy: bool = False,
    tick_id: str | None = None,
    seq: int | None = None,
) -> Tick:
    """A Tick with a fresh unique id unless one is given."""
    return Tick(
        product, ts, bid, ask, price, size, buy,
        tick_id if tick_id is not None else f"x{next(_ids)}", seq,
    )


def quote(ts: float, bid: float, ask: float, *, price: float = 0.0, **kwargs) -> Tick:
    return tick(ts, bid=bid, ask=ask, price=price, **kwargs)


def trade(ts: float, price: float, size: float, buy: bool, **kwargs) -> Tick:
    return tick(ts, price=price, size=size, buy=buy, **kwargs)


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth), for small means."""
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def random_bar(
    rng: random.Random, product: str, start: int, mid: float, vol: float, *, quoted: bool,
) -> Bar:
    """One plausible closed bar; `quoted=False` gives a trades-only bar (no mid)."""
    bar = Bar(product, start)
    trades = poisson(rng, 2.0)
    if quoted:
        k = rng.randint(1, 11)
        path, m = [], mid
        flat = rng.random() < 0.1  # occasionally every quote of the second has the same mid
        for _ in range(k):
            if not flat:
                m *= math.exp(rng.gauss(0.0, vol))
            path.append(m)
        locked = rng.random() < 0.05  # a locked book for the whole second
        spreads = [0.0 if locked else rng.uniform(0.05, 8.0) for _ in range(k)]
        bar.quotes = k
        bar.mid_open, bar.mid_close = path[0], path[-1]
        bar.mid_high, bar.mid_low = max(path), min(path)
        bar.spread_bps_sum = sum(spreads)
        bar.spread_bps_max = max(spreads)
        bar.sum_sq_ret = sum(math.log(b / a) ** 2 for a, b in zip(path, path[1:], strict=False))
    elif trades == 0:
        trades = 1  # a bar exists only because some tick arrived
    if trades:
        buy_share = rng.random()
        sizes = [rng.lognormvariate(-3.0, 1.0) for _ in range(trades)]
        prices = [mid * math.exp(rng.gauss(0.0, vol)) for _ in range(trades)]
        bar.trades = trades
        bar.volume = sum(sizes)
        bar.buy_volume = sum(x for x in sizes if rng.random() < buy_share)
        bar.px_open, bar.px_close = prices[0], prices[-1]
        bar.px_high, bar.px_low = max(prices), min(prices)
    bar.ticks = bar.quotes + trades
    bar.last_ts = start + 0.999
    return bar


def random_bars(
    rng: random.Random,
    n: int,
    *,
    product: str = "BTC-USD",
    start: int = 1_763_600_000,
    max_gap: int | None = None,
    p_skip: float = 0.2,
    p_reset: float = 0.01,
    p_unquoted: float = 0.15,
) -> list[Bar]:
    """A product's closed bars with empty seconds, unquoted seconds and long gaps.

    `max_gap` caps the gap between bars (None allows gaps longer than a segment).
    """
    vol = 10 ** rng.uniform(-5.5, -2.5)
    mid = 10 ** rng.uniform(0.0, 5.0)
    bars: list[Bar] = []
    t = start
    for _ in range(n):
        bar = random_bar(rng, product, t, mid, vol, quoted=rng.random() >= p_unquoted)
        if bar.mid_close > 0.0:
            mid = bar.mid_close
        bars.append(bar)
        u = rng.random()
        if u < p_reset:
            gap = rng.choice([61, 62, rng.randint(63, 2000)])
        elif u < p_reset + p_skip:
            gap = rng.choice([2, 3, rng.randint(4, 60)])
        else:
            gap = 1
        if max_gap is not None:
            gap = min(gap, max_gap)
        t += gap
        # volatility regimes drift, so ratios and floors see a range of values
        vol = min(max(vol * math.exp(rng.gauss(0.0, 0.05)), 1e-7), 1e-2)
    return bars
