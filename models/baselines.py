"""Scores that need no training; always reported beside the model.

Persistence: the past 60 s realized volatility is the forecast of the next
60 s. As a probability (for the worker's fallback), it is mapped through
rv²/(rv² + τ²), which is 0.5 exactly at the label threshold τ.
"""

from __future__ import annotations

import numpy as np

from models.features import FEATURES

RV_60 = FEATURES.index("rv_60")


def persistence(x: np.ndarray) -> np.ndarray:
    return x[:, RV_60]


def persistence_probability(rv_60: float, tau: float) -> float:
    a = rv_60 * rv_60
    return a / (a + tau * tau) if a > 0.0 else 0.0
