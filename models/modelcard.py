"""The artifacts logged with every training run, written to one folder.

model_card.md (what the model is, how it was tested, how it compares with
the baselines), pr_curve.png, feature_importance.png, feature_spec.json
and data_profile.json. A reader of the MLflow run should not need the code
to judge the model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from models import features
from models.evaluate import SCORERS

CARD = """# Model card: {name}

Predicts whether the realized volatility of 1-second log mid-price returns
over the **next {horizon} s** reaches τ = {tau:.6g} (the {quantile} quantile of the
training rows), for every closed 1-second window of a product.

- Model: XGBoost regression of {target}; the forecast becomes a probability
  with a normal residual of spread σ = {sigma:.4f} (validation rows).
- Hyperparameters (time-bounded search, {tried} candidates tried): `{params}`
- Alert threshold {threshold:.4f}, chosen on validation rows ({rule}).
- Features: {n_features}, version {feature_version}, spec hash `{spec}`
  (see feature_spec.json); scale-free ratios and values normalised by
  trailing volatility, plus the trailing realized volatilities.
- Data: {source}; {rows} labelled rows, {products}, {start} – {end} UTC.
- Splits by time with a {horizon} s purge gap after each cut: train {n_train},
  validation {n_val}, test {n_test} rows. τ comes from train only.
- Registry decision: {decision}.

## Test rows (the latest {n_test} rows, never seen in training)

Positive rate {positive_rate:.3f}.

| metric | {header} |
|---|---|---|---|
{metrics}

Persistence scores rv_60²/(rv_60² + τ²); HAR-logistic is a logistic regression
on log rv over 10 s, 60 s and 300 s fitted on the training rows. Precision@k is
taken over the top 1 % of rows; alerts per hour count windows at or above the
threshold per product-hour.

## Walk-forward on earlier → later recordings

{walkforward}

## Limits

Trained on at most a few hours of one exchange's feed. Regimes shift: judge the
model by its PR-AUC against the baselines on a period it has not seen
(`python -m app evaluate --data PATH --label-quantile 0.9`), not by its level.
"""


def _metrics_table(result: dict) -> str:
    lines = []
    for metric in ("pr_auc", "roc_auc", "precision_at_k", "precision", "recall", "f1",
                   "alerts_per_hour", "brier", "threshold"):
        values = " | ".join(f"{result[metric][s]:.4f}" for s in SCORERS)
        lines.append(f"| {metric} | {values} |")
    return "\n".join(lines)


def _profile(frame: pd.DataFrame, fitted) -> dict:
    data = frame.dropna(subset=["future_rv"])
    segments = frame.groupby(["product", "segment"])["window_end"].agg(["min", "max", "count"])
    return {
        "windows": len(frame),
        "labelled_rows": len(data),
        "products": frame["product"].value_counts().to_dict(),
        "start": int(frame["window_end"].min()),
        "end": int(frame["window_end"].max()),
        "segments": len(segments),
        "splits": {name: len(getattr(fitted.splits, name))
                   for name in ("train", "validation", "test")},
        "features": data[list(features.FEATURES) + ["future_rv"]]
        .describe(percentiles=[0.01, 0.5, 0.99]).to_dict(),
    }


def _plots(folder: Path, booster, scored: dict, y: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, score in scored.items():
        precision, recall, _ = precision_recall_curve(y, score)
        ax.plot(recall, precision, label=name)
    ax.axhline(y.mean(), color="grey", linestyle=":", label="chance")
    ax.set(xlabel="recall", ylabel="precision", title="test rows")
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "pr_curve.png", dpi=100)
    plt.close(fig)

    gain = booster.get_score(importance_type="gain")
    names = sorted(gain, key=gain.get)
    fig, ax = plt.subplots(figsize=(6, 0.3 * max(len(names), 4) + 1))
    ax.barh(names, [gain[n] for n in names])
    ax.set(xlabel="total gain", title="feature importance")
    fig.tight_layout()
    fig.savefig(folder / "feature_importance.png", dpi=100)
    plt.close(fig)


def write(folder: Path, fitted, result: dict, scored: dict, y: np.ndarray,
          frame: pd.DataFrame, meta: dict, *, walkforward: str | None, command: str,
          decision: str) -> None:
    """`walkforward`: the markdown table of `models.walkforward`, produced by `command`."""
    model = fitted.model
    profile = _profile(frame, fitted)
    (folder / "data_profile.json").write_text(json.dumps(profile, indent=1, default=str))
    (folder / "feature_spec.json").write_text(json.dumps({
        "features": list(features.FEATURES), "version": features.FEATURE_VERSION,
        "spec_hash": features.FEATURE_SPEC_HASH, "definitions": features.__doc__,
    }, indent=1))
    _plots(folder, model.booster, scored, y)
    params = {k: v for k, v in meta["params"].items() if k not in ("nthread", "seed")}
    rule = (f"target precision {meta['target_precision']}" if meta.get("target_precision")
            else f"target alert rate {meta['target_alert_rate']}")
    wf = ("Not run for this model (train with `--walk-forward`)." if not walkforward else
          f"Produced by `{command}`; test labels use the 0.9 quantile of each test "
          f"period.\n\n{walkforward}")
    card = CARD.format(
        name=model.name, horizon=meta["label_horizon_s"], tau=model.tau,
        quantile=meta["label_quantile"], target=meta["target"], sigma=model.sigma,
        tried=len(fitted.tried), params=params, threshold=model.threshold, rule=rule,
        n_features=len(features.FEATURES), feature_version=features.FEATURE_VERSION,
        spec=features.FEATURE_SPEC_HASH, source=meta.get("source") or "?",
        rows=profile["labelled_rows"], products=", ".join(profile["products"]),
        start=pd.Timestamp(profile["start"], unit="s"), end=pd.Timestamp(profile["end"], unit="s"),
        n_train=profile["splits"]["train"], n_val=profile["splits"]["validation"],
        n_test=profile["splits"]["test"], decision=decision,
        positive_rate=result["positive_rate"], header=" | ".join(SCORERS),
        metrics=_metrics_table(result), walkforward=wf,
    )
    (folder / "model_card.md").write_text(card)
