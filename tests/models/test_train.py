"""Training: time splits with a purge gap, no look-ahead, τ from train, the MLflow run."""

from __future__ import annotations

import json
import random
from pathlib import Path

import mlflow
import numpy as np
import pytest

from models import forecast, search, train
from models.dataset import feature_frame
from models.features import FEATURES
from models.labels import HORIZON_SECONDS, threshold
from tests.models.conftest import QUICK
from tests.models.fixtures import random_bar, random_bars


@pytest.fixture(scope="module")
def fitted(frame):
    return train.fit(frame, QUICK)


def test_splits_are_time_ordered_with_a_purge_gap(frame):
    data = train.rows(frame.dropna(subset=["future_rv"]))
    splits = train.split_by_time(data)
    tr, va, te = splits.train, splits.validation, splits.test
    assert tr.window_end.max() + HORIZON_SECONDS < va.window_end.min()
    assert va.window_end.max() + HORIZON_SECONDS < te.window_end.min()
    assert len(tr) / len(data) == pytest.approx(0.6, abs=0.01)
    assert 0.1 < len(te) / len(data) < 0.2  # the purge gap costs a minute of rows per cut


def test_split_refuses_too_little_data(frame):
    few = train.rows(frame.dropna(subset=["future_rv"]).head(50))
    with pytest.raises(ValueError, match="not enough data to split by time"):
        train.split_by_time(few)


def test_features_at_t_use_nothing_after_t():
    rng = random.Random(5)
    bars = random_bars(rng, 400, max_gap=5)
    i = 250
    future = bars[:i] + [random_bar(rng, "BTC-USD", b.start, 3.0, 1e-2, quoted=True)
                         for b in bars[i:]]
    a, b = feature_frame({"BTC-USD": bars}), feature_frame({"BTC-USD": future})
    cols = list(FEATURES)
    np.testing.assert_array_equal(a[cols].to_numpy()[:i], b[cols].to_numpy()[:i])
    assert not np.array_equal(a[cols].to_numpy()[i:], b[cols].to_numpy()[i:])


def test_tau_comes_from_the_training_rows_only(fitted, frame):
    tau = threshold(fitted.splits.train.future_rv, QUICK.label_quantile)
    assert fitted.model.tau == tau
    assert tau != threshold(frame["future_rv"].to_numpy(), QUICK.label_quantile)


def test_alert_threshold_meets_the_target_alert_rate_on_validation(fitted):
    va = fitted.splits.validation
    alerts = fitted.model.predict_many(va.x) >= fitted.model.threshold
    assert alerts.mean() == pytest.approx(QUICK.target_alert_rate, abs=0.01)
    assert set(fitted.model.meta["thresholds"]) == {"model", "persistence", "har_logistic"}


def test_search_is_time_bounded(fitted):
    sp, tau = fitted.splits, fitted.model.tau
    _, tried = search.search(sp.train, sp.validation, tau, budget_seconds=0.0)
    assert len(tried) == 1  # at least one candidate, whatever the budget
    best, tried = search.search(sp.train, sp.validation, tau, budget_seconds=1e9)
    assert len(tried) == len(search.CANDIDATES)
    assert {**best, "score": max(t["score"] for t in tried)} in tried


def test_a_training_run_logs_metrics_artifacts_and_the_model(store, frame):
    result = train.train(frame, QUICK, source="simulator")
    run = mlflow.get_run(result["run_id"])
    for scorer in ("model", "persistence", "har_logistic"):
        for metric in ("pr_auc", "roc_auc", "precision", "recall", "f1", "precision_at_k",
                       "alerts_per_hour", "brier"):
            assert f"test_{scorer}_{metric}" in run.data.metrics
    assert run.data.params["label_quantile"] == "0.9"
    folder = Path(mlflow.artifacts.download_artifacts(run_id=result["run_id"]))
    for name in ("model_card.md", "pr_curve.png", "feature_importance.png",
                 "feature_spec.json", "data_profile.json", "volspike.json"):
        assert (folder / name).stat().st_size > 0, name
    assert (folder / "pr_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((folder / "feature_spec.json").read_text())["features"] == list(FEATURES)
    card = (folder / "model_card.md").read_text()
    assert "| pr_auc |" in card and "har_logistic" in card
    info = mlflow.models.get_model_info(f"models:/volspike-xgb/{result['model_version']}")
    assert info.signature.inputs.input_names() == list(forecast.INPUTS)  # the booster's columns
    assert info.saved_input_example_info is not None
