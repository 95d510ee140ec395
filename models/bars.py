"""Per-product 1-second event-time bars, shared by the live worker and offline training.

A bar closes when a tick of the same product arrives whose event time is at
least `grace` seconds past the bar's end (the watermark rule). Ticks for an
already-closed second are late: counted and dropped. Both paths feed ticks in
the same order, so they close the same bars with the same contents.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, fields
from enum import Enum
from operator import attrgetter

from models.ticks import Tick

BAR_SECONDS = 1
#: How far past a bar's end event time must move before the bar closes; absorbs
#: the small reordering between a product's ticker and trade messages.
DEFAULT_GRACE_SECONDS = 0.25


@dataclass(slots=True)
class Bar:
    """What the features need from one product-second."""

    product: str
    start: int
    ticks: int = 0
    trades: int = 0
    volume: float = 0.0
    buy_volume: float = 0.0
    mid_open: float = 0.0
    mid_high: float = 0.0
    mid_low: float = 0.0
    mid_close: float = 0.0
    px_open: float = 0.0
    px_high: float = 0.0
    px_low: float = 0.0
    px_close: float = 0.0
    sum_sq_ret: float = 0.0
    quotes: int = 0
    spread_bps_sum: float = 0.0
    spread_bps_max: float = 0.0
    last_ts: float = 0.0

    @property
    def end(self) -> int:
        return self.start + BAR_SECONDS

    def add(self, tick: Tick) -> None:
        """Fold one tick in; tick-to-tick mid returns are summed within the bar."""
        self.ticks += 1
        if tick.ts > self.last_ts:
            self.last_ts = tick.ts
        if tick.bid > 0.0:
            mid = (tick.bid + tick.ask) * 0.5
            spread = (tick.ask - tick.bid) / mid * 1e4
            self.quotes += 1
            self.spread_bps_sum += spread
            if spread > self.spread_bps_max:
                self.spread_bps_max = spread
            if self.mid_open == 0.0:
                self.mid_open = self.mid_high = self.mid_low = mid
            else:
                if mid != self.mid_close:
                    r = math.log(mid / self.mid_close)
                    self.sum_sq_ret += r * r
                if mid > self.mid_high:
                    self.mid_high = mid
                elif mid < self.mid_low:
                    self.mid_low = mid
            self.mid_close = mid
        price = tick.price
        if price > 0.0:
            if self.px_open == 0.0:
                self.px_open = self.px_high = self.px_low = price
            elif price > self.px_high:
                self.px_high = price
            elif price < self.px_low:
                self.px_low = price
            self.px_close = price
        if tick.size > 0.0:
            self.trades += 1
            self.volume += tick.size
            if tick.buy:
                self.buy_volume += tick.size

    def to_dict(self) -> dict:
        return dict(zip(FIELDS, _values(self), strict=True))

    @classmethod
    def from_dict(cls, data: dict) -> Bar:
        return cls(**data)


FIELDS = tuple(f.name for f in fields(Bar))
_values = attrgetter(*FIELDS)


class Outcome(Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    LATE = "late"


class BarBuilder:
    """Event-time windowing for one product.

    Tick ids of open bars and of the last `dedupe_size` closed ticks are
    remembered, so a tick the feed sent twice is counted once. `state()`
    describes only closed bars: a worker persists it at each close and, after
    a crash, rebuilds the open bars from the redelivered ticks.
    """

    def __init__(
        self, product: str, *, grace: float = DEFAULT_GRACE_SECONDS,
        dedupe_size: int = 512,
    ) -> None:
        self.product = product
        self.grace = grace
        self.dedupe_size = dedupe_size
        self.open: dict[int, Bar] = {}
        #: the earliest end of an open bar: nothing closes before event time passes it
        self._due = math.inf
        self.watermark = 0.0
        self.closed_through = -1  # start of the newest closed bar
        self.carry_mid = 0.0  # mid at the end of the newest closed bar that had one
        self._open_ids: dict[int, list[str]] = {}
        self._open_id_set: set[str] = set()
        self._closed_ids: deque[str] = deque()
        self._closed_id_set: set[str] = set()

    def feed(self, tick: Tick) -> tuple[Outcome, list[Bar]]:
        """Apply one tick; returns its outcome and the bars it closed, oldest first."""
        tick_id = tick.tick_id
        if tick_id in self._open_id_set or tick_id in self._closed_id_set:
            return Outcome.DUPLICATE, []
        start = int(tick.ts // BAR_SECONDS) * BAR_SECONDS
        if start <= self.closed_through:
            return Outcome.LATE, []
        bar = self.open.get(start)
        if bar is None:
            bar = self.open[start] = Bar(self.product, start)
            self._open_ids[start] = []
            if start + BAR_SECONDS < self._due:
                self._due = start + BAR_SECONDS
        bar.add(tick)
        self._open_ids[start].append(tick_id)
        self._open_id_set.add(tick_id)
        if tick.ts > self.watermark:
            self.watermark = tick.ts
            if tick.ts - self.grace >= self._due:
                return Outcome.APPLIED, self.close_until(tick.ts - self.grace)
        return Outcome.APPLIED, []

    def close_until(self, ts: float) -> list[Bar]:
        """Close every open bar that ends at or before `ts`, oldest first."""
        if ts < self._due:
            return []
        due = sorted(s for s, b in self.open.items() if b.end <= ts)
        closed = [self._close(start) for start in due]
        self._due = min(self.open) + BAR_SECONDS if self.open else math.inf
        return closed

    def _close(self, start: int) -> Bar:
        bar = self.open.pop(start)
        if bar.mid_open > 0.0:
            if self.carry_mid > 0.0 and bar.mid_open != self.carry_mid:
                r = math.log(bar.mid_open / self.carry_mid)
                bar.sum_sq_ret += r * r
            self.carry_mid = bar.mid_close
        self.closed_through = start
        for tick_id in self._open_ids.pop(start):
            self._open_id_set.discard(tick_id)
            self._closed_ids.append(tick_id)
            self._closed_id_set.add(tick_id)
        while len(self._closed_ids) > self.dedupe_size:
            self._closed_id_set.discard(self._closed_ids.popleft())
        return bar

    def state(self) -> dict:
        return {
            "closed_through": self.closed_through,
            "carry_mid": self.carry_mid,
            "recent_ids": list(self._closed_ids),
        }

    @classmethod
    def from_state(cls, product: str, state: dict, **kwargs) -> BarBuilder:
        builder = cls(product, **kwargs)
        builder.closed_through = int(state["closed_through"])
        builder.carry_mid = float(state["carry_mid"])
        builder.watermark = float(builder.closed_through + BAR_SECONDS)
        builder._closed_ids.extend(state["recent_ids"])
        builder._closed_id_set.update(state["recent_ids"])
        return builder
