"""Data drift of live features (and prediction drift of the scores) against training.

The reference is a sample of the training rows' features with the trained
model's probabilities on them, logged with every trained model as an MLflow
artifact (`reference.parquet`). The check is Evidently's data-drift preset
with one method for every feature, the normed Wasserstein distance, so each
feature's score means the same thing and can be a gauge: a feature drifts
when its distance reaches `threshold`, the dataset when the share of drifting
features reaches `share`. The `probability` column gets the same test on its
own: prediction drift.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from models import archive
from models.features import FEATURES

METHOD = "wasserstein"
REFERENCE_ARTIFACT = "reference.parquet"
REFERENCE_ROWS = 5000
PREDICTION = "probability"
#: fewer current rows than this make no meaningful comparison
MIN_ROWS = 50


class NoData(ValueError):
    """Too little data on one side to compare."""


@dataclass
class Result:
    summary: dict
    snapshot: object  # evidently's Snapshot: save_html/json

    def write(self, html: Path, summary: Path) -> None:
        html.parent.mkdir(parents=True, exist_ok=True)
        self.snapshot.save_html(str(html))
        summary.write_text(json.dumps(self.summary, indent=2, sort_keys=True))


def reference_sample(frame: pd.DataFrame, predict_many, rows: int = REFERENCE_ROWS,
                     seed: int = 0) -> pd.DataFrame:
    """Up to `rows` training rows drawn at random: features and the model's probability."""
    sample = frame[list(FEATURES)]
    if len(sample) > rows:
        sample = sample.sample(rows, random_state=seed).sort_index()
    sample = sample.reset_index(drop=True)
    return sample.assign(**{PREDICTION: predict_many(sample.to_numpy(dtype=np.float64))})


def load_reference(run_id: str) -> pd.DataFrame | None:
    """The training profile logged with an MLflow run; None when it has none."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        path = mlflow.artifacts.download_artifacts(f"runs:/{run_id}/{REFERENCE_ARTIFACT}")
    except (MlflowException, OSError):
        return None
    return pd.read_parquet(path)


def read_rows(path: Path) -> pd.DataFrame:
    """Feature rows of a Parquet file, a folder of them, or an archive."""
    path = Path(path)
    if archive.is_archive(path):
        return archive.read(path)
    return pd.read_parquet(path)


def _clean(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    missing = [c for c in FEATURES if c not in frame.columns]
    if missing:
        raise ValueError(f"rows lack the feature columns {missing}")
    out = frame[columns].astype(np.float64).replace([np.inf, -np.inf], np.nan)
    return out.dropna().reset_index(drop=True)


def check(reference: pd.DataFrame, current: pd.DataFrame, threshold: float = 0.4,
          share: float = 0.15) -> Result:
    """Evidently's drift report of `current` against `reference`, and its summary."""
    from evidently import Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    columns = list(FEATURES)
    if PREDICTION in reference.columns and PREDICTION in current.columns:
        columns.append(PREDICTION)
    ref, cur = _clean(reference, columns), _clean(current, columns)
    if len(ref) < MIN_ROWS or len(cur) < MIN_ROWS:
        raise NoData(f"too few rows to compare: reference {len(ref)}, current {len(cur)} "
                     f"(at least {MIN_ROWS} each)")
    metrics = [DataDriftPreset(columns=list(FEATURES), method=METHOD, threshold=threshold,
                               drift_share=share)]
    if PREDICTION in columns:
        metrics.append(ValueDrift(column=PREDICTION, method=METHOD, threshold=threshold))
    with warnings.catch_warnings():  # constant columns: numpy warns, Evidently scores 0
        warnings.simplefilter("ignore", RuntimeWarning)
        snapshot = Report(metrics).run(current_data=cur, reference_data=ref)
    scores = _column_scores(snapshot.dict())
    drifting = sorted(name for name in FEATURES if scores.get(name, 0.0) >= threshold)
    drift_share = len(drifting) / len(FEATURES)
    summary = {
        "drift_share": drift_share,
        "drifted_features": drifting,
        "dataset_drift": drift_share >= share,
        "feature_drift": {name: scores.get(name, 0.0) for name in FEATURES},
        "prediction_drift": scores.get(PREDICTION),
        "method": METHOD,
        "threshold": threshold,
        "share": share,
        "reference_rows": len(ref),
        "current_rows": len(cur),
    }
    return Result(summary, snapshot)


def _column_scores(report: dict) -> dict[str, float]:
    """{column: drift score} of the report's ValueDrift metrics."""
    out = {}
    for metric in report["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith(":ValueDrift"):
            value = metric["value"]
            out[config["column"]] = float(value) if np.isfinite(value) else 0.0
    return out
