"""Train the XGBoost spike classifier and register it in MLflow.

Splits are by time (train, validation, test) with a purge gap of at least
the label horizon between them, so no label window straddles two splits.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models import baselines, metrics, registry
from models.bars import DEFAULT_GRACE_SECONDS
from models.dataset import feature_matrix, labelled
from models.features import FEATURE_SPEC_HASH, FEATURES
from models.labels import HORIZON_SECONDS, threshold

DEFAULT_QUANTILE = 0.9
XGB_PARAMS = {
    "objective": "binary:logistic",
    "eval_metric": "aucpr",
    "max_depth": 4,
    "eta": 0.05,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 5,
    "nthread": 2,
    "seed": 0,
}


@dataclass
class Splits:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame


def split_by_time(
    frame: pd.DataFrame, fractions: tuple[float, float] = (0.6, 0.2), purge: int = HORIZON_SECONDS
) -> Splits:
    """Cut at time quantiles; drop `purge` seconds after each cut."""
    ends = frame["window_end"].to_numpy()
    lo, hi = ends.min(), ends.max()
    cut1 = lo + (hi - lo) * fractions[0]
    cut2 = lo + (hi - lo) * (fractions[0] + fractions[1])
    train = frame[ends <= cut1]
    validation = frame[(ends > cut1 + purge) & (ends <= cut2)]
    test = frame[ends > cut2 + purge]
    if min(len(train), len(validation), len(test)) == 0:
        raise ValueError(
            f"not enough data to split by time: {len(frame)} rows over {hi - lo:.0f} s"
        )
    return Splits(train, validation, test)


def _xy(frame: pd.DataFrame, tau: float) -> tuple[np.ndarray, np.ndarray]:
    return feature_matrix(frame), (frame["future_rv"].to_numpy() >= tau).astype(np.int32)


def evaluate_scores(y: np.ndarray, scores: dict[str, np.ndarray]) -> dict[str, float]:
    out = {}
    for name, score in scores.items():
        out[f"{name}_pr_auc"] = metrics.pr_auc(y, score)
        out[f"{name}_roc_auc"] = metrics.roc_auc(y, score)
    out["positive_rate"] = float(y.mean())
    out["rows"] = float(len(y))
    return out


def train(
    frame: pd.DataFrame,
    *,
    quantile: float = DEFAULT_QUANTILE,
    progress: Callable[[str], None] = lambda _msg: None,
    source: str = "",
    rounds: int = 400,
) -> dict:
    """Fit, log to the configured MLflow store, register and alias as champion."""
    import mlflow
    import mlflow.xgboost
    import xgboost as xgb
    from mlflow.models import infer_signature

    data = labelled(frame)
    splits = split_by_time(data)
    tau = threshold(splits.train["future_rv"].to_numpy(), quantile)
    x_tr, y_tr = _xy(splits.train, tau)
    x_va, y_va = _xy(splits.validation, tau)
    x_te, y_te = _xy(splits.test, tau)
    progress(f"rows train={len(y_tr)} validation={len(y_va)} test={len(y_te)}; tau={tau:.3g}")

    dtrain = xgb.DMatrix(x_tr, label=y_tr, feature_names=list(FEATURES))
    dval = xgb.DMatrix(x_va, label=y_va, feature_names=list(FEATURES))
    booster = xgb.train(
        XGB_PARAMS,
        dtrain,
        num_boost_round=rounds,
        evals=[(dval, "validation")],
        early_stopping_rounds=30,
        verbose_eval=False,
    )
    booster = booster[: booster.best_iteration + 1]
    progress(f"xgboost: {booster.num_boosted_rounds()} rounds (early stopping on validation)")

    cut = metrics.best_f1_threshold(y_va, booster.inplace_predict(x_va))
    prob_te = booster.inplace_predict(x_te)
    test = evaluate_scores(
        y_te, {"model": prob_te, "persistence": baselines.persistence(x_te)}
    )
    test.update({f"model_{k}": v for k, v in metrics.at_threshold(y_te, prob_te, cut).items()})
    meta = {
        "features": list(FEATURES),
        "feature_spec_hash": FEATURE_SPEC_HASH,
        "tau": tau,
        "label_quantile": quantile,
        "label_horizon_s": HORIZON_SECONDS,
        "alert_threshold": cut,
        "grace_s": DEFAULT_GRACE_SECONDS,
        "source": source,
    }
    with mlflow.start_run() as run:
        mlflow.log_params({**XGB_PARAMS, "label_quantile": quantile, "rounds": rounds})
        mlflow.log_params({"source": source[:500], "feature_spec_hash": FEATURE_SPEC_HASH})
        mlflow.log_metrics({f"test_{k}": v for k, v in test.items() if np.isfinite(v)})
        mlflow.log_dict(meta, registry.META_ARTIFACT)
        example = pd.DataFrame(x_te[:5], columns=list(FEATURES))
        info = mlflow.xgboost.log_model(
            booster,
            name="model",
            signature=infer_signature(example, prob_te[:5]),
            input_example=example,
            registered_model_name=registry.MODEL_NAME,
        )
        version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(registry.MODEL_NAME, registry.CHAMPION, version)
    progress(f"registered {registry.MODEL_NAME} version {version} as @{registry.CHAMPION}")
    return {
        "run_id": run.info.run_id,
        "model_version": version,
        "alias": registry.CHAMPION,
        "tau": tau,
        "alert_threshold": cut,
        "test": test,
    }


def summary_line(result: dict) -> str:
    return json.dumps(result, sort_keys=True, default=float)
