"""Scores that need little or no training; always reported beside the model.

Persistence: the past 60 s realized volatility is the forecast of the next
60 s. As a probability it is mapped through rv²/(rv² + τ²), which is 0.5
exactly at the label threshold τ and keeps the ranking of rv_60.

HAR-logistic: logistic regression on log realized volatility over 10 s,
60 s and 300 s, fitted on the training rows. Its coefficients are stored
with the model, so evaluation on a new period uses the same baseline.
"""

from __future__ import annotations

import numpy as np

from models.features import FEATURES

RV_60 = FEATURES.index("rv_60")
HAR_COLUMNS = tuple(FEATURES.index(name) for name in ("rv_10", "rv_60", "rv_300"))
#: log(rv + LOG_FLOOR): a minute without a mid change is not −∞.
LOG_FLOOR = 1e-6


def persistence(x: np.ndarray, tau: float) -> np.ndarray:
    a = x[:, RV_60] ** 2
    return np.where(a > 0.0, a / (a + tau * tau), 0.0)


def persistence_probability(rv_60: float, tau: float) -> float:
    a = rv_60 * rv_60
    return a / (a + tau * tau) if a > 0.0 else 0.0


def har_inputs(x: np.ndarray) -> np.ndarray:
    return np.log(x[:, HAR_COLUMNS] + LOG_FLOOR)


def fit_har_logistic(x: np.ndarray, y: np.ndarray) -> dict:
    """Coefficients of the HAR-logistic baseline, as stored with the model."""
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(max_iter=1000).fit(har_inputs(x), y)
    return {"coef": [float(c) for c in fit.coef_[0]], "intercept": float(fit.intercept_[0])}


def har_logistic(x: np.ndarray, params: dict) -> np.ndarray:
    z = har_inputs(x) @ np.asarray(params["coef"]) + params["intercept"]
    return 1.0 / (1.0 + np.exp(-z))
