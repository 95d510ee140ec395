"""The serving model: the registry's champion, or the persistence baseline without one.

A timer asks the registry every `VOLSPIKE_MODEL_POLL_SECONDS` which version
`@champion` names. A new one is loaded, checked against this worker's
feature spec and warmed up off the event loop, then swapped in between two
scores, so a rollout needs no restart. A version that fails any of that is
refused: the current model keeps serving, and the refusal is logged once
and counted.
"""

from __future__ import annotations

import asyncio
import logging

import numpy as np

from app import heap, metrics
from app.core import app
from app.settings import settings
from models import registry
from models.baselines import RV_60, persistence_probability

log = logging.getLogger(__name__)

PERSISTENCE = "persistence"


class Scorer:
    """Scores feature vectors; `version` is "persistence" while no model serves.

    `degraded` is true while the registry's champion is not what serves
    (refused, or the registry unreachable); `last_error` says why.
    """

    def __init__(self) -> None:
        self.model: registry.ServingModel | None = None
        self.loaded = False
        self.degraded = False
        self.last_error: str | None = None
        self._refused: str | None = None
        self._scoring_error: str | None = None
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return self.model.name if self.model else PERSISTENCE

    @property
    def version(self) -> str:
        return self.model.version if self.model else PERSISTENCE

    @property
    def threshold(self) -> float:
        return _threshold(self.model)

    async def ensure_loaded(self) -> None:
        if not self.loaded:
            await self.refresh()

    async def refresh(self) -> None:
        """Serve the registry's current champion if it is new and usable."""
        async with self._lock:
            run = asyncio.get_running_loop().run_in_executor
            try:
                await run(None, registry.configure, settings.mlflow_tracking_uri,
                          settings.mlflow_artifacts)
                version = await run(None, registry.alias_version)
            except Exception as exc:  # the registry being down must not stop scoring
                self._fail("error", f"cannot reach the registry at "
                                    f"{settings.mlflow_tracking_uri}: {exc}")
                return
            if version is None or version == self._refused:
                self._settle(version is None)
                return
            if self.model is not None and version == self.model.version:
                self.degraded, self.last_error = False, None
                return
            try:
                model = await run(None, _load_checked, version)
            except Exception as exc:
                self._refused = version
                self._fail("refused", f"refusing {registry.MODEL_NAME} version {version}: "
                                      f"{exc}; still serving {self.version}")
                self.loaded = True
                return
            previous, first = self.version, not self.loaded
            self._serve(model)
            self.loaded = True
            self.degraded, self.last_error = False, None
            metrics.MODEL_RELOADS.labels("loaded" if first else "swapped").inc()
            if not first:
                log.info("hot reload: %s → version %s", previous, model.version)
                heap.settle()

    def _settle(self, no_champion: bool) -> None:
        """No usable new champion: the first time, serve persistence and say why."""
        if not self.loaded:
            self._serve(None)
            self.loaded = True
        if no_champion and self.model is None:
            self.degraded, self.last_error = False, None
        elif no_champion:  # the alias was removed under a serving model: keep it, say so
            message = (f"no {registry.MODEL_NAME}@{registry.CHAMPION} in the registry any "
                       f"more; still serving version {self.version}")
            if message != self.last_error:
                log.error("%s", message)
            self.degraded, self.last_error = True, message

    def _fail(self, result: str, message: str) -> None:
        metrics.MODEL_RELOADS.labels(result).inc()
        if message != self.last_error:
            log.error("%s", message)
        self.degraded, self.last_error = True, message
        if not self.loaded:
            self._serve(None)
            self.loaded = True

    def _serve(self, model: registry.ServingModel | None) -> None:
        self.model = model
        metrics.MODEL_INFO.clear()
        if model is None:
            log.warning(
                "no usable %s@%s in the registry at %s: scoring with the persistence baseline",
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
            return _persistence(features)
        return self.model.predict(features)

    def score_many(self, rows: list[list[float]]) -> tuple[list[float], float, str, str]:
        """(probabilities, threshold, model name, version) for windows scored together.

        One model call for all rows: its fixed cost (~0.2 ms) dwarfs a row's.
        A model that raises must not stop the stream or drop the windows: they
        are scored by the persistence baseline and say so in their model
        fields, and the failure is counted and logged (once per distinct error).
        """
        try:
            if self.model is None:
                probabilities = [_persistence(row) for row in rows]
            else:
                probabilities = self.model.predict_many(np.asarray(rows, dtype=np.float64)).tolist()
            return probabilities, self.threshold, self.name, self.version
        except Exception as exc:  # noqa: BLE001 - any model failure, by design
            metrics.SCORING_ERRORS.inc(len(rows))
            message = f"{self.name} version {self.version} failed to score: {exc!r}"
            if message != self._scoring_error:
                self._scoring_error = message
                log.error("%s; scoring with the persistence baseline", message)
            return [_persistence(row) for row in rows], _threshold(None), PERSISTENCE, PERSISTENCE

    def drivers(self, features: list[float], top: int = 3) -> dict[str, float]:
        """The features that pushed this score most (SHAP contributions for the model)."""
        if self.model is None:
            return {"rv_60": features[RV_60]}
        import xgboost as xgb

        model = self.model
        row = np.asarray(features, dtype=np.float64)[model.columns].reshape(1, -1)
        contribs = model.booster.predict(xgb.DMatrix(row, feature_names=model.inputs),
                                         pred_contribs=True)[0][:-1]
        order = sorted(range(len(contribs)), key=lambda i: -abs(contribs[i]))[:top]
        return {model.inputs[i]: float(contribs[i]) for i in order}


def _persistence(features: list[float]) -> float:
    return persistence_probability(features[RV_60], settings.persistence_tau)


def _threshold(model: registry.ServingModel | None) -> float:
    if settings.alert_threshold is not None:
        return settings.alert_threshold
    return model.threshold if model else 0.5


def _load_checked(version: str) -> registry.ServingModel:
    return registry.check(registry.load_version(version, registry.CHAMPION))


scorer = Scorer()


@app.task
async def load_then_settle() -> None:
    """Serve a model from the start, then take the start-up heap out of the GC's walks."""
    await scorer.ensure_loaded()
    heap.settle()


@app.timer(interval=settings.model_poll_seconds)
async def poll_registry() -> None:
    await scorer.refresh()
