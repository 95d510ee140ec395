"""The MLflow model registry: where trained models go and the worker finds them."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_NAME = "volspike-xgb"
EXPERIMENT = "volspike"
CHAMPION = "champion"
META_ARTIFACT = "volspike.json"

log = logging.getLogger(__name__)


def configure(tracking_uri: str, artifact_root: str | Path | None = None) -> None:
    """Point MLflow at the store and make sure our experiment exists.

    With a local sqlite store the experiment's artifacts go to
    `artifact_root`; a tracking server decides that itself.
    """
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(tracking_uri)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        location = None
        if artifact_root is not None and tracking_uri.startswith("sqlite:"):
            Path(artifact_root).mkdir(parents=True, exist_ok=True)
            location = Path(artifact_root).resolve().as_uri()
        mlflow.create_experiment(EXPERIMENT, artifact_location=location)
    mlflow.set_experiment(EXPERIMENT)


@dataclass
class ServingModel:
    """A registered XGBoost model ready for single-row scoring."""

    name: str
    version: str
    run_id: str
    alias: str
    meta: dict
    booster: object

    @property
    def threshold(self) -> float:
        return float(self.meta["alert_threshold"])

    @property
    def tau(self) -> float:
        return float(self.meta["tau"])

    def predict(self, features: list[float]) -> float:
        row = np.asarray(features, dtype=np.float64).reshape(1, -1)
        return float(self.booster.inplace_predict(row)[0])

    def predict_many(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.inplace_predict(rows), dtype=np.float64)


def load(alias: str = CHAMPION, name: str = MODEL_NAME) -> ServingModel | None:
    """The model behind `models:/name@alias`, or None when no version has that alias."""
    import mlflow
    import mlflow.xgboost
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code) or "not found" in str(exc).lower():
            return None
        raise
    booster = mlflow.xgboost.load_model(f"models:/{name}@{alias}")
    booster.set_param({"nthread": 1})
    meta = mlflow.artifacts.load_dict(f"runs:/{version.run_id}/{META_ARTIFACT}")
    return ServingModel(name, str(version.version), version.run_id, alias, meta, booster)
