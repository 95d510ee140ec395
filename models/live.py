"""Live quality: the serving model's PR-AUC on windows whose label horizon has passed.

The worker feeds every scored window (its bar, features and probability)
here. A window's label needs the next `HORIZON_SECONDS` of bars, so only rows
at least that old are evaluated, with the same `future_rv` as training and
the serving model's τ. The baselines are scored on the same rows, so the
gauges say whether the model still beats them in production.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from models import baselines, metrics
from models.bars import Bar
from models.dataset import segments
from models.labels import HORIZON_SECONDS, future_rv


@dataclass
class _Product:
    bars: deque[Bar] = field(default_factory=deque)
    rows: deque[tuple[tuple[float, ...], float]] = field(default_factory=deque)


class LiveQuality:
    """Rolling per-product buffers of (bar, features, probability), `window` seconds long."""

    def __init__(self, window: float, horizon: int = HORIZON_SECONDS) -> None:
        self.window, self.horizon = window, horizon
        self.products: dict[str, _Product] = {}

    def observe(self, bar: Bar, features: Sequence[float], probability: float) -> None:
        """One scored window (its feature vector in FEATURES order); a redelivered (not
        newer) window is ignored. Kept as a tuple of floats, which the GC stops tracking."""
        state = self.products.setdefault(bar.product, _Product())
        if state.bars and bar.start <= state.bars[-1].start:
            return
        state.bars.append(bar)
        state.rows.append((tuple(features), probability))
        oldest = bar.start - self.window - self.horizon
        while state.bars[0].start < oldest:
            state.bars.popleft()
            state.rows.popleft()

    def copy(self) -> LiveQuality:
        out = LiveQuality(self.window, self.horizon)
        out.products = {p: _Product(deque(s.bars), deque(s.rows)) for p, s in self.products.items()}
        return out

    def forget(self, products: set[str]) -> None:
        for product in products:
            self.products.pop(product, None)

    def evaluate(self, tau: float, har_logistic: dict | None = None) -> dict:
        """{"rows", "positives", "pr_auc": {scorer: value}} over the labelled rows (τ given)."""
        x, prob, future = [], [], []
        for state in self.products.values():
            by_start = dict(zip((b.start for b in state.bars), state.rows, strict=True))
            for segment in segments(list(state.bars)):
                for bar, rv in zip(segment, future_rv(segment, self.horizon), strict=True):
                    if np.isfinite(rv):
                        features, probability = by_start[bar.start]
                        x.append(features)
                        prob.append(probability)
                        future.append(rv)
        y = (np.asarray(future) >= tau).astype(np.int32)
        out: dict = {"rows": len(y), "positives": int(y.sum()), "pr_auc": {}}
        if not len(y):
            return out
        matrix = np.asarray(x, dtype=np.float64)
        scored = {"model": np.asarray(prob), "persistence": baselines.persistence(matrix, tau)}
        if har_logistic is not None:
            scored["har_logistic"] = baselines.har_logistic(matrix, har_logistic)
        out["pr_auc"] = {name: metrics.pr_auc(y, s) for name, s in scored.items()}
        return out
