"""Score rows with the model and both baselines, and compare them on the same rows.

Used for the test split at training time and by `python -m app evaluate`
on a new period. With a label quantile, τ is that quantile of the evaluated
rows themselves (ranking skill in a new regime); without one it is the τ
stored with the model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models import baselines, metrics
from models.dataset import feature_matrix, labelled
from models.labels import threshold

SCORERS = ("model", "persistence", "har_logistic")


def scores(predict_many, meta: dict, x: np.ndarray) -> dict[str, np.ndarray]:
    """Probabilities of the model and of both baselines stored with it."""
    return {
        "model": predict_many(x),
        "persistence": baselines.persistence(x, float(meta["tau"])),
        "har_logistic": baselines.har_logistic(x, meta["har_logistic"]),
    }


def compare(
    y: np.ndarray, by_scorer: dict[str, np.ndarray], thresholds: dict[str, float]
) -> dict:
    """{metric: {scorer: value}} plus the row count and the positive rate."""
    hours = len(y) / 3600.0  # one row per product-second
    reports = {name: metrics.report(y, s, thresholds[name], hours) for name, s in by_scorer.items()}
    first = next(iter(reports.values()))
    out: dict = {"rows": int(len(y)), "positive_rate": float(y.mean()) if len(y) else float("nan")}
    for metric in first:
        out[metric] = {name: r[metric] for name, r in reports.items()}
    return out


def evaluate(frame: pd.DataFrame, model, label_quantile: float | None = None) -> dict:
    """The model (a `registry.ServingModel`) and both baselines on a feature frame."""
    data = labelled(frame)
    if data.empty:
        raise ValueError("no labelled rows: every segment is shorter than the label horizon")
    x = feature_matrix(data)
    future = data["future_rv"].to_numpy()
    tau = model.tau if label_quantile is None else threshold(future, label_quantile)
    y = (future >= tau).astype(np.int32)
    out = compare(y, scores(model.predict_many, model.meta, x), model.meta["thresholds"])
    out.update({
        "tau": tau,
        "label_quantile": label_quantile,
        "model_name": model.name,
        "model_version": model.version,
        "products": sorted(data["product"].unique()),
        "start": int(data["window_end"].min()),
        "end": int(data["window_end"].max()),
    })
    return out


def flat(result: dict, prefix: str) -> dict[str, float]:
    """`compare`'s nested metrics as finite MLflow metrics, e.g. test_model_pr_auc."""
    out = {}
    for metric, value in result.items():
        items = value.items() if isinstance(value, dict) else [("", value)]
        for scorer, v in items:
            key = "_".join(p for p in (prefix, scorer, metric) if p)
            if isinstance(v, int | float) and np.isfinite(v):
                out[key] = float(v)
    return out
