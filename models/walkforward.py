"""Walk-forward measurement: train on earlier recordings, test on a later period.

Rows are grouped into periods wherever the data pauses for more than an
hour. Each period after the first few becomes a test period once; the model
and its baselines are fitted only on rows that end at least the label
horizon before it, and the test labels use the 0.9 quantile of the test
period itself, as `python -m app evaluate --label-quantile 0.9` does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from models import train as trainer
from models.dataset import labelled
from models.evaluate import evaluate
from models.labels import HORIZON_SECONDS

PERIOD_GAP_SECONDS = 3600
MIN_TRAIN_ROWS = 1500
TEST_QUANTILE = 0.9


def periods(frame: pd.DataFrame) -> list[tuple[int, int]]:
    """(first, last) window end of each stretch of data without an hour's pause."""
    ends = np.unique(frame["window_end"].to_numpy())
    if not ends.size:
        return []
    breaks = np.flatnonzero(np.diff(ends) > PERIOD_GAP_SECONDS)
    firsts = np.concatenate([[0], breaks + 1])
    lasts = np.concatenate([breaks, [ends.size - 1]])
    return [(int(ends[a]), int(ends[b])) for a, b in zip(firsts, lasts, strict=True)]


def run(frame: pd.DataFrame, options: trainer.Options,
        progress: Callable[[str], None] = lambda _msg: None) -> list[dict]:
    data = labelled(frame)
    out = []
    for first, last in periods(data):
        past = data[data["window_end"] <= first - HORIZON_SECONDS]
        if len(past) < MIN_TRAIN_ROWS:
            continue
        test = data[(data["window_end"] >= first) & (data["window_end"] <= last)]
        fitted = trainer.fit(past, options)
        result = evaluate(test, fitted.model, TEST_QUANTILE)
        pr = result["pr_auc"]
        out.append({
            "test_start": pd.Timestamp(first, unit="s").strftime("%Y-%m-%d %H:%M"),
            "test_end": pd.Timestamp(last, unit="s").strftime("%Y-%m-%d %H:%M"),
            "products": ",".join(result["products"]),
            "train_rows": len(past), "test_rows": result["rows"],
            "positive_rate": result["positive_rate"],
            **{f"pr_auc_{k}": v for k, v in pr.items()},
            "vs_har": pr["model"] / pr["har_logistic"],
        })
        progress(f"walk-forward {out[-1]}")
    return out


def table(rows: list[dict]) -> str:
    """The walk-forward results as a markdown table."""
    lines = [
        "| test period (UTC) | products | train rows | test rows | positives | PR-AUC model "
        "| persistence | HAR-logistic | model / HAR |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['test_start']} – {r['test_end'][-5:]} | {r['products']} | {r['train_rows']} "
            f"| {r['test_rows']} | {r['positive_rate']:.3f} | **{r['pr_auc_model']:.3f}** "
            f"| {r['pr_auc_persistence']:.3f} | {r['pr_auc_har_logistic']:.3f} "
            f"| {r['vs_har']:.2f}× |"
        )
    if rows:
        mean = {k: np.mean([r[k] for r in rows]) for k in
                ("pr_auc_model", "pr_auc_persistence", "pr_auc_har_logistic", "vs_har")}
        lines.append(
            f"| mean | | | | | **{mean['pr_auc_model']:.3f}** | {mean['pr_auc_persistence']:.3f} "
            f"| {mean['pr_auc_har_logistic']:.3f} | {mean['vs_har']:.2f}× |"
        )
    return "\n".join(lines)
