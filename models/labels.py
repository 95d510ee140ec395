"""Labels: is the realized volatility over the next 60 seconds a spike?

A window ending at second t+1 (bar start t) is positive when
sqrt(sum of squared 1-second log mid returns over seconds t+1 … t+60) ≥ τ,
with τ a quantile of the training rows. Returns use the same carried-forward
close mids as `models.features`; nothing at or before t enters the label.
"""

from __future__ import annotations

import math

import numpy as np

from models.bars import Bar

HORIZON_SECONDS = 60


def future_rv(bars: list[Bar], horizon: int = HORIZON_SECONDS) -> list[float]:
    """Future realized volatility per bar of one segment; NaN where the horizon runs past it."""
    if not bars:
        return []
    first = bars[0].start
    last = bars[-1].start
    n = last - first + 1
    mids = [0.0] * n
    for bar in bars:
        mids[bar.start - first] = bar.mid_close
    for i in range(1, n):
        if mids[i] == 0.0:
            mids[i] = mids[i - 1]
    sq = [0.0] * n
    for i in range(1, n):
        if mids[i] > 0.0 and mids[i - 1] > 0.0 and mids[i] != mids[i - 1]:
            sq[i] = math.log(mids[i] / mids[i - 1]) ** 2
    cum = np.concatenate([[0.0], np.cumsum(sq)])
    out = []
    for bar in bars:
        i = bar.start - first
        if i + horizon >= n:
            out.append(math.nan)
        else:
            # sq[i+1 .. i+horizon]
            out.append(math.sqrt(max(cum[i + horizon + 1] - cum[i + 1], 0.0)))
    return out


def threshold(values: np.ndarray, quantile: float) -> float:
    """τ: the `quantile` of the finite future-volatility values."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ValueError("no labelled rows: every segment is shorter than the label horizon")
    return float(np.quantile(finite, quantile))
