"""The numpy trees give XGBoost's exact numbers, and the serving model uses them safely."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from models import registry, train
from models.features import FEATURES
from models.trees import Ensemble
from tests.models.conftest import QUICK


@pytest.fixture(scope="module")
def fitted(frame):
    return train.fit(frame, QUICK).model


def rows_at_every_scale(n: int, width: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(n, width)) * 10.0 ** rng.uniform(-6, 1, size=(n, width))
    rows[rng.random((n, width)) < 0.05] = np.nan  # missing values take the default branch
    return rows


def test_the_numpy_trees_equal_xgboost_bit_for_bit(fitted, frame):
    ensemble = Ensemble(fitted.booster)
    real = frame[fitted.inputs].to_numpy(dtype=np.float64)
    for rows in (real, rows_at_every_scale(3000, len(fitted.inputs)), real[:1]):
        assert np.array_equal(ensemble.predict(rows), fitted.booster.inplace_predict(rows))


@pytest.mark.parametrize("depth,rounds", [(1, 3), (3, 40), (6, 120)])
def test_trees_of_any_depth_and_count(depth, rounds):
    import xgboost as xgb

    rows = rows_at_every_scale(4000, 7, seed=depth)
    label = np.nan_to_num(rows[:, 0]) + np.sin(np.nan_to_num(rows[:, 1]))
    booster = xgb.train({"objective": "reg:squarederror", "max_depth": depth, "nthread": 1},
                        xgb.DMatrix(rows, label=label), num_boost_round=rounds)
    assert np.array_equal(Ensemble(booster).predict(rows), booster.inplace_predict(rows))


def test_what_the_numpy_trees_cannot_read_is_refused():
    import xgboost as xgb

    rows = rows_at_every_scale(500, 3)
    label = (np.nan_to_num(rows[:, 0]) > 0).astype(float)
    booster = xgb.train({"objective": "binary:logistic", "nthread": 1},
                        xgb.DMatrix(rows, label=label), num_boost_round=3)
    with pytest.raises(ValueError, match="objective"):
        Ensemble(booster)
    with pytest.raises(ValueError, match="shape"):
        Ensemble(xgb.train({"objective": "reg:squarederror", "nthread": 1},
                           xgb.DMatrix(rows, label=label), num_boost_round=2)
                 ).predict(rows[:, :2])


def test_the_serving_model_scores_alike_by_either_path(fitted, frame, monkeypatch):
    registry.check(fitted)
    assert fitted.ensemble is not None
    rows = frame[list(FEATURES)].to_numpy(dtype=np.float64)[:300]
    few = fitted.predict_many(rows[:2])  # numpy trees
    monkeypatch.setattr(registry, "SMALL_BATCH", 0)  # XGBoost
    assert np.array_equal(few, fitted.predict_many(rows[:2]))
    assert fitted.predict(list(rows[0])) == pytest.approx(float(few[0]), rel=1e-12)


def test_a_model_whose_trees_disagree_is_served_by_xgboost(fitted):
    class Off(Ensemble):
        def predict(self, rows):
            return super().predict(rows) + np.float32(1e-3)

    model = dataclasses.replace(fitted)
    model.ensemble = Off(model.booster)
    registry.check(model)
    assert model.ensemble is None
