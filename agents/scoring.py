"""The serving model: the registry's champion, or the persistence baseline without one."""

from __future__ import annotations

import asyncio
import logging
import time

from app import metrics
from app.settings import settings
from models import registry
from models.baselines import RV_60, persistence_probability
from models.features import FEATURE_SPEC_HASH, FEATURES

log = logging.getLogger(__name__)

PERSISTENCE = "persistence"


class Scorer:
    """Scores feature vectors; `version` is "persistence" while no model serves."""

    def __init__(self) -> None:
        self.model: registry.ServingModel | None = None
        self.loaded = False
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return self.model.name if self.model else PERSISTENCE

    @property
    def version(self) -> str:
        return self.model.version if self.model else PERSISTENCE

    @property
    def threshold(self) -> float:
        if settings.alert_threshold is not None:
            return settings.alert_threshold
        return self.model.threshold if self.model else 0.5

    async def ensure_loaded(self) -> None:
        if self.loaded:
            return
        async with self._lock:
            if not self.loaded:
                model = await asyncio.get_running_loop().run_in_executor(None, _load_champion)
                self._serve(model)
                self.loaded = True

    def _serve(self, model: registry.ServingModel | None) -> None:
        self.model = model
        metrics.MODEL_INFO.clear()
        if model is None:
            log.warning(
                "no %s@%s in the registry at %s: scoring with the persistence baseline",
                registry.MODEL_NAME, registry.CHAMPION, settings.mlflow_tracking_uri,
            )
            metrics.MODEL_INFO.labels(PERSISTENCE, PERSISTENCE, "").set(1)
        else:
            log.info(
                "serving %s version %s (@%s, run %s, alert threshold %.3f)",
                model.name, model.version, model.alias, model.run_id, self.threshold,
            )
            metrics.MODEL_INFO.labels(model.name, model.version, model.alias).set(1)

    def predict(self, features: list[float]) -> float:
        if self.model is None:
            return persistence_probability(features[RV_60], settings.persistence_tau)
        return self.model.predict(features)

    def drivers(self, features: list[float], top: int = 3) -> dict[str, float]:
        """The features that pushed this score most (SHAP contributions for the model)."""
        if self.model is None:
            return {"rv_60": features[RV_60]}
        import numpy as np
        import xgboost as xgb

        row = xgb.DMatrix(np.asarray([features]), feature_names=list(FEATURES))
        contribs = self.model.booster.predict(row, pred_contribs=True)[0][:-1]
        order = sorted(range(len(FEATURES)), key=lambda i: -abs(contribs[i]))[:top]
        return {FEATURES[i]: float(contribs[i]) for i in order}


def _load_champion() -> registry.ServingModel | None:
    started = time.monotonic()
    try:
        registry.configure(settings.mlflow_tracking_uri, settings.mlflow_artifacts)
        model = registry.load()
    except Exception as exc:  # the registry being down must not stop scoring
        log.error("cannot load the champion from %s: %s", settings.mlflow_tracking_uri, exc)
        return None
    if model is not None and model.meta.get("feature_spec_hash") != FEATURE_SPEC_HASH:
        log.error(
            "refusing %s version %s: feature spec %s, worker has %s",
            model.name, model.version, model.meta.get("feature_spec_hash"), FEATURE_SPEC_HASH,
        )
        return None
    log.info("registry lookup took %.2f s", time.monotonic() - started)
    return model


scorer = Scorer()
