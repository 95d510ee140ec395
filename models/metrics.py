"""Ranking and threshold metrics shared by training and evaluation."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


def pr_auc(y: np.ndarray, score: np.ndarray) -> float:
    return float(average_precision_score(y, score)) if y.any() else float("nan")


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else float("nan")


def at_threshold(y: np.ndarray, prob: np.ndarray, threshold: float) -> dict[str, float]:
    alert = prob >= threshold
    tp = float((alert & (y == 1)).sum())
    precision = tp / alert.sum() if alert.any() else 0.0
    recall = tp / y.sum() if y.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "alert_rate": float(alert.mean())}


def best_f1_threshold(y: np.ndarray, prob: np.ndarray) -> float:
    """The probability cut that maximises F1 (ties → the higher cut, fewer alerts)."""
    best, best_f1 = 0.5, -1.0
    for cut in np.unique(np.quantile(prob, np.linspace(0.5, 0.995, 100))):
        f1 = at_threshold(y, prob, float(cut))["f1"]
        if f1 >= best_f1:
            best, best_f1 = float(cut), f1
    return best
