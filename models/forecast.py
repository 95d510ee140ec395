"""What the XGBoost booster predicts, and how that becomes a spike probability.

The booster does not predict the label directly. It predicts the log ratio
of the next minute's realized volatility to a trailing estimate,
z = log(future_rv + ε) − log(base + ε), where the base is the high–low
range of the mid over the past minute (it sees every quote inside each
second, so it estimates volatility better than 1-second closes do).
The base is the starting point, so the booster only learns corrections,
and a ratio transfers across regimes where a level does not. Those
corrections are shrunk by `SHRINK` before use: at full strength they help
inside the training regime but hurt on later recordings (walk-forward in
docs/model-card.md). The forecast log(base + ε) + SHRINK·ẑ becomes
P(future_rv ≥ τ) with a normal residual of spread σ measured on
validation rows; τ, σ and the shrink factor are stored with the model.

The booster sees only the scale-free features (`INPUTS`): the volatility
level enters through the base alone, so a calmer or wilder period shifts
every forecast alike and leaves the ranking to the ratios.
"""

from __future__ import annotations

import math

import numpy as np

from models.baselines import LOG_FLOOR
from models.features import FEATURES, SPAN, VAR_FLOOR

TARGET = "log(future_rv + 1e-6) - log(range_60 + 1e-6), squared error"
SHRINK = 0.25
#: price-level and volatility-level features stay out of the booster
LEVELS = ("rv_10", "rv_30", "rv_60", "rv_300", "spread_bps_60")
INPUTS: tuple[str, ...] = tuple(name for name in FEATURES if name not in LEVELS)
RV_300 = FEATURES.index("rv_300")
RANGE_Z_60 = FEATURES.index("range_z_60")


def columns(names: list[str] | tuple[str, ...]) -> np.ndarray:
    """Positions of `names` in the feature vector."""
    return np.array([FEATURES.index(name) for name in names], dtype=np.intp)


def range_60(x: np.ndarray) -> np.ndarray:
    """log(high/low) of the mid over the last 60 s, undoing range_z_60's normalisation."""
    scale60 = np.sqrt(np.maximum(x[:, RV_300] ** 2 / SPAN, VAR_FLOOR) * 60)
    return x[:, RANGE_Z_60] * scale60


def log_base(x: np.ndarray) -> np.ndarray:
    return np.log(range_60(x) + LOG_FLOOR)


def target(x: np.ndarray, future_rv: np.ndarray) -> np.ndarray:
    return np.log(future_rv + LOG_FLOOR) - log_base(x)


def log_forecast(x: np.ndarray, residual: np.ndarray, shrink: float = SHRINK) -> np.ndarray:
    return log_base(x) + shrink * residual


def probability_one(features: list[float], residual: float, shrink: float, tau: float,
                    sigma: float) -> float:
    """`probability` of one feature vector in plain floats: the worker's hot path."""
    scale60 = math.sqrt(max(features[RV_300] ** 2 / SPAN, VAR_FLOOR) * 60)
    logf = math.log(features[RANGE_Z_60] * scale60 + LOG_FLOOR) + shrink * residual
    return 0.5 * math.erfc(-(logf - math.log(tau + LOG_FLOOR)) / (sigma * math.sqrt(2.0)))


def probability(log_forecast: np.ndarray, tau: float, sigma: float) -> np.ndarray:
    """P(log future_rv ≥ log τ) under a normal error of spread σ around the forecast."""
    from scipy.special import ndtr

    return ndtr((np.asarray(log_forecast) - math.log(tau + LOG_FLOOR)) / sigma)
