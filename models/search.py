"""A small, time-bounded, time-series-aware hyperparameter search.

Each candidate is scored on two forward folds: fit on the first half of the
training rows and score the second half (after a purge gap), then fit on
all training rows and score the validation rows. A candidate's score is its
mean validation PR-AUC on the spike label; only rows later than the fit
rows ever judge it. Candidates run in a fixed order, best guess first,
until the time budget is spent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from models import forecast, metrics
from models.labels import HORIZON_SECONDS

BASE_PARAMS = {
    "objective": "reg:squarederror",
    "eval_metric": "rmse",
    "eta": 0.05,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "nthread": 2,
    "seed": 0,
}
CANDIDATES = (
    {"max_depth": 3, "min_child_weight": 50, "lambda": 10.0},
    {"max_depth": 2, "min_child_weight": 100, "lambda": 10.0},
    {"max_depth": 4, "min_child_weight": 50, "lambda": 10.0},
    {"max_depth": 3, "min_child_weight": 200, "lambda": 30.0},
    {"max_depth": 5, "min_child_weight": 100, "lambda": 30.0},
    {"max_depth": 2, "min_child_weight": 20, "lambda": 1.0},
)
MAX_ROUNDS = 600
EARLY_STOPPING = 40


@dataclass
class Rows:
    """Feature matrix, future volatility and window ends of one time-ordered split."""

    x: np.ndarray
    future_rv: np.ndarray
    window_end: np.ndarray

    def __len__(self) -> int:
        return len(self.future_rv)

    def select(self, keep: np.ndarray) -> Rows:
        return Rows(self.x[keep], self.future_rv[keep], self.window_end[keep])

    def labels(self, tau: float) -> np.ndarray:
        return (self.future_rv >= tau).astype(np.int32)


def fit(params: dict, train: Rows, validation: Rows):
    """A booster on `train`, early-stopped on `validation`, cut at its best round."""
    import xgboost as xgb

    cols, names = forecast.columns(forecast.INPUTS), list(forecast.INPUTS)
    dtrain = xgb.DMatrix(train.x[:, cols], label=forecast.target(train.x, train.future_rv),
                         feature_names=names)
    dval = xgb.DMatrix(validation.x[:, cols], feature_names=names,
                       label=forecast.target(validation.x, validation.future_rv))
    booster = xgb.train({**BASE_PARAMS, **params}, dtrain, num_boost_round=MAX_ROUNDS,
                        evals=[(dval, "validation")], early_stopping_rounds=EARLY_STOPPING,
                        verbose_eval=False)
    return booster[: booster.best_iteration + 1]


def ranking(booster, rows: Rows) -> np.ndarray:
    """The log-volatility forecast: monotone in the spike probability."""
    return forecast.log_forecast(
        rows.x, booster.inplace_predict(rows.x[:, forecast.columns(forecast.INPUTS)]))


def _inner_fold(train: Rows) -> tuple[Rows, Rows]:
    ends = train.window_end
    cut = np.quantile(ends, 0.5)
    return train.select(ends <= cut), train.select(ends > cut + HORIZON_SECONDS)


def search(
    train: Rows, validation: Rows, tau: float, budget_seconds: float,
    progress: Callable[[str], None] = lambda _msg: None,
) -> tuple[dict, list[dict]]:
    """The best candidate's parameters, and every tried candidate with its score."""
    first, second = _inner_fold(train)
    folds = [(train, validation)]
    if min(len(first), len(second)) and second.labels(tau).any():
        folds.insert(0, (first, second))
    started = time.monotonic()
    tried: list[dict] = []
    for params in CANDIDATES:
        if tried and time.monotonic() - started > budget_seconds:
            break
        scores = [metrics.pr_auc(held.labels(tau), ranking(fit(params, fit_rows, held), held))
                  for fit_rows, held in folds]
        finite = [s for s in scores if np.isfinite(s)]
        tried.append({**params, "score": float(np.mean(finite)) if finite else float("nan")})
        progress(f"search: {params} → validation PR-AUC {tried[-1]['score']:.3f}")
    best = max(tried, key=lambda t: t["score"] if np.isfinite(t["score"]) else -1.0)
    return {k: v for k, v in best.items() if k != "score"}, tried
