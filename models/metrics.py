"""Ranking, threshold and calibration metrics shared by training and evaluation.

Every scorer (the model and both baselines) is reported with the same
`report`, on the same rows, so the numbers can be compared side by side.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

#: precision@k is taken at k = this share of the rows (the top-scored 1 %).
TOP_SHARE = 0.01


def pr_auc(y: np.ndarray, score: np.ndarray) -> float:
    return float(average_precision_score(y, score)) if y.any() else float("nan")


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else float("nan")


def brier(y: np.ndarray, prob: np.ndarray) -> float:
    return float(np.mean((prob - y) ** 2)) if len(y) else float("nan")


def precision_at_k(y: np.ndarray, score: np.ndarray, k: int) -> float:
    """Share of positives among the k highest scores (ties broken by row order)."""
    if k <= 0 or not len(y):
        return float("nan")
    top = np.argsort(-score, kind="stable")[:k]
    return float(y[top].mean())


def at_threshold(y: np.ndarray, prob: np.ndarray, threshold: float) -> dict[str, float]:
    alert = prob >= threshold
    tp = float((alert & (y == 1)).sum())
    precision = tp / alert.sum() if alert.any() else 0.0
    recall = tp / y.sum() if y.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "alert_rate": float(alert.mean())}


def choose_threshold(
    y: np.ndarray, prob: np.ndarray, *, precision: float | None = None, alert_rate: float = 0.05
) -> float:
    """The alert cut chosen on validation rows.

    With a target `precision`: the lowest cut whose alerts reach it (most
    recall at that precision); when no cut reaches it, fall back to the
    alert rate. Otherwise: the cut that alerts on `alert_rate` of the rows.
    """
    if precision is not None:
        order = np.argsort(-prob, kind="stable")
        hits = np.cumsum(y[order])
        prec = hits / np.arange(1, len(y) + 1)
        ok = np.flatnonzero(prec >= precision)
        if ok.size:
            return float(prob[order][ok[-1]])
    return float(np.quantile(prob, 1.0 - alert_rate))


def report(
    y: np.ndarray, prob: np.ndarray, threshold: float, hours: float
) -> dict[str, float]:
    """Everything we say about one scorer on one set of rows."""
    at = at_threshold(y, prob, threshold)
    return {
        "pr_auc": pr_auc(y, prob),
        "roc_auc": roc_auc(y, prob),
        "brier": brier(y, prob),
        "precision_at_k": precision_at_k(y, prob, max(1, int(len(y) * TOP_SHARE))),
        "precision": at["precision"],
        "recall": at["recall"],
        "f1": at["f1"],
        "alert_rate": at["alert_rate"],
        "alerts_per_hour": float((prob >= threshold).sum() / hours) if hours > 0 else float("nan"),
        "threshold": threshold,
    }
