"""Train the XGBoost spike model, log it to MLflow, register it and pick its alias.

Splits are by time (train, validation, test, in row order) with a purge
gap of at least the label horizon after each cut, so no label window
straddles two splits. τ comes from the training rows only. The new version
becomes `@champion` only when it beats the current champion on the same
test rows; otherwise it becomes `@challenger`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from models import baselines, drift, evaluate, forecast, metrics, modelcard, registry, search
from models.bars import DEFAULT_GRACE_SECONDS
from models.dataset import feature_matrix, labelled
from models.features import FEATURE_SPEC_HASH, FEATURE_VERSION, FEATURES
from models.labels import HORIZON_SECONDS, threshold
from models.search import Rows


@dataclass
class Options:
    label_quantile: float = 0.9
    #: alert threshold: the lowest cut reaching this validation precision, when set …
    target_precision: float | None = None
    #: … else the cut that alerts on this share of validation rows
    target_alert_rate: float = 0.05
    search_seconds: float = 20.0


@dataclass
class Splits:
    train: Rows
    validation: Rows
    test: Rows


@dataclass
class Fitted:
    """A trained model before it goes to the registry."""

    model: registry.ServingModel
    splits: Splits
    tried: list[dict] = field(default_factory=list)


def rows(frame: pd.DataFrame) -> Rows:
    return Rows(feature_matrix(frame), frame["future_rv"].to_numpy(dtype=np.float64),
                frame["window_end"].to_numpy())


def split_by_time(
    data: Rows, fractions: tuple[float, float] = (0.6, 0.2), purge: int = HORIZON_SECONDS
) -> Splits:
    """Cut at the window ends of the given row shares; drop `purge` seconds after each cut."""
    ends = data.window_end
    order = np.sort(ends)
    cut1 = order[int(len(order) * fractions[0]) - 1] if len(order) else 0
    cut2 = order[int(len(order) * sum(fractions)) - 1] if len(order) else 0
    splits = Splits(data.select(ends <= cut1),
                    data.select((ends > cut1 + purge) & (ends <= cut2)),
                    data.select(ends > cut2 + purge))
    sizes = [len(splits.train), len(splits.validation), len(splits.test)]
    if min(sizes) == 0:
        raise ValueError(f"not enough data to split by time: {len(ends)} labelled rows "
                         f"→ train/validation/test {sizes}")
    return splits


def fit(frame: pd.DataFrame, options: Options,
        progress: Callable[[str], None] = lambda _msg: None) -> Fitted:
    """Everything but the registry: τ, search, booster, σ, baselines and thresholds."""
    splits = split_by_time(rows(labelled(frame)))
    tr, va = splits.train, splits.validation
    tau = threshold(tr.future_rv, options.label_quantile)
    progress(f"rows train={len(tr)} validation={len(va)} test={len(splits.test)}; "
             f"tau={tau:.3g} (quantile {options.label_quantile} of train)")
    params, tried = search.search(tr, va, tau, options.search_seconds, progress)
    booster = search.fit(params, tr, va)
    residual = np.log(va.future_rv + baselines.LOG_FLOOR) - search.ranking(booster, va)
    meta = {
        "features": list(FEATURES),
        "inputs": list(forecast.INPUTS),
        "shrink": forecast.SHRINK,
        "feature_version": FEATURE_VERSION,
        "feature_spec_hash": FEATURE_SPEC_HASH,
        "tau": tau,
        "sigma": float(max(np.std(residual), 1e-3)),
        "label_quantile": options.label_quantile,
        "target_precision": options.target_precision,
        "target_alert_rate": options.target_alert_rate,
        "label_horizon_s": HORIZON_SECONDS,
        "grace_s": DEFAULT_GRACE_SECONDS,
        "params": {**search.BASE_PARAMS, **params, "rounds": booster.num_boosted_rounds()},
        "har_logistic": baselines.fit_har_logistic(tr.x, tr.labels(tau)),
        "target": forecast.TARGET,
    }
    model = registry.ServingModel(registry.MODEL_NAME, "", "", "", meta, booster)
    y_va = va.labels(tau)
    meta["thresholds"] = {
        name: metrics.choose_threshold(y_va, s, precision=options.target_precision,
                                       alert_rate=options.target_alert_rate)
        for name, s in evaluate.scores(model.predict_many, meta, va.x).items()
    }
    meta["alert_threshold"] = meta["thresholds"]["model"]
    progress(f"xgboost: {booster.num_boosted_rounds()} rounds, {params}")
    return Fitted(model, splits, tried)


def beats_champion(test: Rows, tau: float, new_pr_auc: float) -> tuple[bool, str, float | None]:
    """Does the new model beat the current champion on the same test rows?"""
    try:
        champion = registry.load()
    except Exception as exc:  # an unreadable champion is no champion to keep
        return True, f"current champion cannot be loaded ({exc})", None
    if champion is None:
        return True, "no champion yet", None
    try:
        registry.check(champion)
    except registry.Refused as exc:
        return True, f"current champion cannot be served: {exc}", None
    theirs = metrics.pr_auc(test.labels(tau), champion.predict_many(test.x))
    if new_pr_auc > theirs:
        return True, f"beats version {champion.version} (PR-AUC {theirs:.4f})", theirs
    return False, f"does not beat version {champion.version} (PR-AUC {theirs:.4f})", theirs


def train(
    frame: pd.DataFrame,
    options: Options | None = None,
    *,
    progress: Callable[[str], None] = lambda _msg: None,
    source: str = "",
    walkforward: str | None = None,
    command: str = "",
) -> dict:
    """Fit, log one MLflow run, register the model and give it its alias."""
    import mlflow
    import mlflow.xgboost
    from mlflow.models import infer_signature

    options = options or Options()
    fitted = fit(frame, options, progress)
    model, test = fitted.model, fitted.splits.test
    meta = {**model.meta, "source": source}
    y_te = test.labels(model.tau)
    scored = evaluate.scores(model.predict_many, meta, test.x)
    result = evaluate.compare(y_te, scored, meta["thresholds"])
    new_pr_auc = result["pr_auc"]["model"]
    beats, reason, champion_pr_auc = beats_champion(test, model.tau, new_pr_auc)
    progress(f"test PR-AUC model={new_pr_auc:.4f} persistence="
             f"{result['pr_auc']['persistence']:.4f} har_logistic="
             f"{result['pr_auc']['har_logistic']:.4f}; {reason}")

    with mlflow.start_run() as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params(meta["params"])
        mlflow.log_params({
            "label_quantile": options.label_quantile, "tau": model.tau, "sigma": model.sigma,
            "target_precision": options.target_precision,
            "target_alert_rate": options.target_alert_rate,
            "search_seconds": options.search_seconds, "source": source[:500],
            "feature_spec_hash": FEATURE_SPEC_HASH,
        })
        mlflow.log_metrics(evaluate.flat(result, "test"))
        if champion_pr_auc is not None:
            mlflow.log_metric("champion_test_pr_auc", champion_pr_auc)
        mlflow.log_dict(meta, registry.META_ARTIFACT)
        folder = Path(tmp)
        modelcard.write(folder, fitted, result, scored, y_te, frame, meta,
                        walkforward=walkforward, command=command, decision=reason)
        # the training profile the worker's drift check compares live features with
        drift.reference_sample(frame, model.predict_many).to_parquet(
            folder / drift.REFERENCE_ARTIFACT)
        mlflow.log_artifacts(str(folder))
        example = pd.DataFrame(test.x[:5, model.columns], columns=model.inputs)
        info = mlflow.xgboost.log_model(
            model.booster,
            name="model",
            signature=infer_signature(example, model.booster.inplace_predict(example)),
            input_example=example,
            # stated, not inferred: inference re-imports the world in a subprocess (~10 s)
            pip_requirements=mlflow.xgboost.get_default_pip_requirements(),
            registered_model_name=registry.MODEL_NAME,
        )
        version = str(info.registered_model_version)
        alias = registry.assign(version, beats)
        mlflow.set_tag("alias", alias)
    progress(f"registered {registry.MODEL_NAME} version {version} as @{alias}")
    return {
        "run_id": run.info.run_id,
        "model_version": version,
        "alias": alias,
        "decision": reason,
        "tau": model.tau,
        "alert_threshold": model.threshold,
        "test": result,
    }
