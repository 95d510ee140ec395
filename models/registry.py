"""The MLflow model registry: where trained models go and the worker finds them.

Aliases carry the rollout: the worker serves `@champion`; a trained version
that does not beat the champion on the same test rows gets `@challenger`,
and `promote` moves `@champion` by hand.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from models import forecast
from models.features import FEATURE_SPEC_HASH, FEATURES
from models.trees import Ensemble

MODEL_NAME = "volspike-xgb"
EXPERIMENT = "volspike"
CHAMPION = "champion"
CHALLENGER = "challenger"
META_ARTIFACT = "volspike.json"

#: up to this many rows × trees a call goes to the numpy trees (no fixed cost), beyond to
#: XGBoost (less per row): the two cross near here on this machine (docs/benchmarks.md)
SMALL_BATCH = 4096

log = logging.getLogger(__name__)


class Refused(Exception):
    """A registered model this code cannot serve (wrong feature spec, unreadable)."""


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

    @property
    def sigma(self) -> float:
        return float(self.meta["sigma"])

    @property
    def shrink(self) -> float:
        return float(self.meta["shrink"])

    @property
    def inputs(self) -> list[str]:
        """The features the booster reads, in its column order."""
        return list(self.meta["inputs"])

    @cached_property
    def columns(self) -> np.ndarray:
        return forecast.columns(self.inputs)

    @cached_property
    def ensemble(self) -> Ensemble | None:
        """The booster as numpy trees; None for a booster they cannot evaluate."""
        try:
            return Ensemble(self.booster)
        except (ValueError, KeyError) as exc:
            log.warning("%s version %s scored by XGBoost alone: %s", self.name, self.version, exc)
            return None

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """The booster's output for rows in its column order: the numpy trees for a few rows
        (XGBoost's call costs ~0.2 ms whatever the rows), XGBoost itself for many."""
        ensemble = self.ensemble
        if ensemble is not None and len(x) * ensemble.count <= SMALL_BATCH:
            return ensemble.predict(x)
        return self.booster.inplace_predict(x)

    def predict(self, features: list[float]) -> float:
        row = np.asarray(features, dtype=np.float64)[self.columns].reshape(1, -1)
        residual = float(self.residuals(row)[0])
        return forecast.probability_one(features, residual, self.shrink, self.tau, self.sigma)

    def predict_many(self, rows: np.ndarray) -> np.ndarray:
        residual = np.asarray(self.residuals(rows[:, self.columns]), dtype=np.float64)
        logf = forecast.log_forecast(rows, residual, self.shrink)
        return forecast.probability(logf, self.tau, self.sigma)


def check(model: ServingModel) -> ServingModel:
    """Refuse a model this code cannot feed; warm it up so its first real score is fast."""
    spec = model.meta.get("feature_spec_hash")
    if spec != FEATURE_SPEC_HASH:
        raise Refused(f"{model.name} version {model.version} has feature spec {spec}, "
                      f"this code has {FEATURE_SPEC_HASH}")
    probability = model.predict([0.0] * len(FEATURES))
    if not 0.0 <= probability <= 1.0:
        raise Refused(f"{model.name} version {model.version} scored {probability} on warm-up")
    _check_ensemble(model)
    return model


def _check_ensemble(model: ServingModel) -> None:
    """Serve the numpy trees only if they give XGBoost's exact numbers on this model."""
    if model.ensemble is None:
        return
    rng, trees = np.random.default_rng(0), model.ensemble
    shape = (256, len(model.inputs))
    rows = rng.normal(size=shape) * 10.0 ** rng.uniform(-6, 1, size=shape)  # every scale
    rows[::7, ::3] = np.nan
    # and values on each split and one float32 step either side of it, where a
    # comparison done differently would show
    ties = rows.copy()
    for column in range(shape[1]):
        cuts = trees.split[(trees.left != np.arange(len(trees.left))) & (trees.feature == column)]
        if len(cuts):
            ties[:, column] = rng.choice(cuts, size=shape[0])
    ties32 = ties.astype(np.float32)
    rows = np.vstack([rows, ties, np.nextafter(ties32, np.float32(np.inf)).astype(np.float64),
                      np.nextafter(ties32, np.float32(-np.inf)).astype(np.float64)])
    if not np.array_equal(trees.predict(rows), model.booster.inplace_predict(rows)):
        log.warning("%s version %s: numpy trees differ from XGBoost; XGBoost serves alone",
                    model.name, model.version)
        model.ensemble = None


def _client():
    import mlflow

    return mlflow.MlflowClient()


def _missing(exc: Exception) -> bool:
    code = str(getattr(exc, "error_code", ""))
    return "RESOURCE_DOES_NOT_EXIST" in code or "not found" in str(exc).lower()


def alias_version(alias: str = CHAMPION, name: str = MODEL_NAME) -> str | None:
    """The version behind `name@alias` (a cheap registry call), or None."""
    from mlflow.exceptions import MlflowException

    try:
        return str(_client().get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if _missing(exc):
            return None
        raise


def run_id(version: str, name: str = MODEL_NAME) -> str:
    """The MLflow run that logged a registered version (its artifacts live there)."""
    return str(_client().get_model_version(name, version).run_id)


def load_version(version: str, alias: str = "", name: str = MODEL_NAME) -> ServingModel:
    """One registered version with its stored metadata, set to score on one thread."""
    import mlflow
    import mlflow.xgboost

    entry = _client().get_model_version(name, version)
    booster = mlflow.xgboost.load_model(f"models:/{name}/{version}")
    booster.set_param({"nthread": 1})
    meta = mlflow.artifacts.load_dict(f"runs:/{entry.run_id}/{META_ARTIFACT}")
    return ServingModel(name, str(version), entry.run_id, alias, meta, booster)


def load(alias: str = CHAMPION, name: str = MODEL_NAME) -> ServingModel | None:
    """The model behind `models:/name@alias`, or None when no version has that alias."""
    version = alias_version(alias, name)
    return None if version is None else load_version(version, alias, name)


def load_uri(uri: str) -> ServingModel:
    """`models:/NAME@ALIAS` or `models:/NAME/VERSION`."""
    if not uri.startswith("models:/"):
        raise ValueError(f"expected models:/NAME@ALIAS or models:/NAME/VERSION, got {uri!r}")
    ref = uri.removeprefix("models:/")
    if "@" in ref:
        name, alias = ref.split("@", 1)
        model = load(alias, name)
        if model is None:
            raise ValueError(f"no version of {name} has the alias @{alias}")
        return model
    name, _, version = ref.partition("/")
    return load_version(version, "", name)


def assign(version: str, beats_champion: bool, name: str = MODEL_NAME) -> str:
    """Give a new version `@champion` when it beats the champion, else `@challenger`."""
    alias = CHAMPION if beats_champion else CHALLENGER
    _client().set_registered_model_alias(name, alias, version)
    return alias


def promote(version: str, name: str = MODEL_NAME) -> str | None:
    """Move `@champion` to `version` by hand; returns the version it moved from."""
    client = _client()
    client.get_model_version(name, version)  # fails clearly when there is no such version
    previous = alias_version(CHAMPION, name)
    client.set_registered_model_alias(name, CHAMPION, version)
    if alias_version(CHALLENGER, name) == str(version):
        client.delete_registered_model_alias(name, CHALLENGER)
    return previous
