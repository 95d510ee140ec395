"""Metrics, the HAR-logistic baseline, and evaluation beside the baselines (in process and CLI)."""

from __future__ import annotations

import numpy as np
import pytest

from models import baselines, metrics, train
from models.evaluate import evaluate
from models.features import FEATURES
from tests.models.conftest import QUICK
from tests.stack import Stack


def test_precision_at_k_and_brier():
    y = np.array([1, 0, 1, 0, 0])
    score = np.array([0.9, 0.8, 0.7, 0.1, 0.2])
    assert metrics.precision_at_k(y, score, 1) == 1.0
    assert metrics.precision_at_k(y, score, 2) == 0.5
    assert metrics.precision_at_k(y, score, 3) == pytest.approx(2 / 3)
    assert metrics.brier(y, y.astype(float)) == 0.0
    assert metrics.brier(y, 1.0 - y) == 1.0


def test_choose_threshold_for_a_precision_or_an_alert_rate():
    y = np.array([1, 1, 0, 1, 0, 0, 0, 0, 0, 0])
    prob = np.linspace(1.0, 0.1, 10)
    # precision ≥ 0.75 holds down to the 4th row (3 of 4), not below
    assert metrics.choose_threshold(y, prob, precision=0.75) == prob[3]
    assert metrics.at_threshold(y, prob, prob[3])["precision"] == 0.75
    # an unreachable precision falls back to the alert rate
    cut = metrics.choose_threshold(y, prob, precision=1.01, alert_rate=0.2)
    assert (prob >= cut).mean() == pytest.approx(0.2)


def test_har_logistic_learns_that_higher_volatility_means_spikes():
    rng = np.random.default_rng(0)
    x = np.zeros((2000, len(FEATURES)))
    for j, name in enumerate(FEATURES):
        if name.startswith("rv_"):
            x[:, j] = np.exp(rng.normal(-8, 0.5, len(x)))
    y = (x[:, baselines.RV_60] * np.exp(rng.normal(0, 0.3, len(x))) > np.exp(-7.5)).astype(int)
    params = baselines.fit_har_logistic(x, y)
    assert params["coef"][1] > 0  # log rv_60
    prob = baselines.har_logistic(x, params)
    assert ((0 < prob) & (prob < 1)).all()
    assert metrics.roc_auc(y, prob) > 0.8


def test_evaluate_scores_model_and_baselines_on_the_same_rows(frame):
    model = train.fit(frame, QUICK).model
    own = evaluate(frame, model)
    assert own["tau"] == model.tau
    assert set(own["pr_auc"]) == {"model", "persistence", "har_logistic"}
    new = evaluate(frame, model, label_quantile=0.8)
    assert new["rows"] == own["rows"] == int(frame["future_rv"].notna().sum())
    assert new["positive_rate"] == pytest.approx(0.2, abs=0.01)
    for scorer in ("model", "persistence", "har_logistic"):
        assert new["pr_auc"][scorer] > new["positive_rate"]  # better than chance


def test_cli_evaluate_on_a_real_recording(coinbase_data, registry, tmp_path):
    uri, artifacts = registry
    recording = coinbase_data / "advanced-trade" / "btc-usd_2026-04-05T2235Z_20min.ndjson"
    result = Stack(tmp_path, uri, artifacts).run(
        ["evaluate", "--data", str(recording), "--label-quantile", "0.9"])
    assert result["model_uri"] == "models:/volspike-xgb@champion"
    assert result["products"] == ["BTC-USD"] and result["rows"] > 1000
    assert result["positive_rate"] == pytest.approx(0.1, abs=0.01)
    assert set(result["pr_auc"]) == {"model", "persistence", "har_logistic"}
