"""Promotion rules and serving checks against a real sqlite registry and a real mlflow server."""

from __future__ import annotations

import numpy as np
import pytest
from mlflow.exceptions import MlflowException

from app.simulate import simulate_to_file
from models import registry, train
from models.baselines import LOG_FLOOR
from models.features import FEATURE_SPEC_HASH, FEATURES
from models.simulator import Market
from tests.models.conftest import QUICK, register_with_spec
from tests.stack import Stack


def backwards(frame):
    """The same rows with a target that ranks calm windows highest: a champion to beat."""
    out = frame.copy()
    out["future_rv"] = LOG_FLOOR / (out["rv_60"] + LOG_FLOOR)
    return out


def aliases() -> dict[str, str | None]:
    return {a: registry.alias_version(a) for a in (registry.CHAMPION, registry.CHALLENGER)}


def test_first_model_is_champion_and_one_that_does_not_beat_it_is_challenger(store, frame):
    first = train.train(frame, QUICK)
    assert (first["model_version"], first["alias"]) == ("1", "champion")
    assert first["decision"] == "no champion yet"

    # the same data and seed give the same model: equal is not better
    again = train.train(frame, QUICK)
    assert (again["model_version"], again["alias"]) == ("2", "challenger")
    assert again["decision"].startswith("does not beat version 1")
    assert aliases() == {"champion": "1", "challenger": "2"}
    assert registry.load().version == "1"


@pytest.mark.parametrize("store", ["sqlite", "server"], indirect=True)
def test_a_model_that_beats_the_champion_on_the_same_test_rows_takes_its_place(store, frame):
    worse = train.train(backwards(frame), QUICK)
    assert worse["alias"] == "champion"
    better = train.train(frame, QUICK)
    assert better["alias"] == "champion", better["decision"]
    assert better["decision"].startswith("beats version 1 (PR-AUC")
    assert aliases() == {"champion": "2", "challenger": None}


def test_a_champion_this_code_cannot_serve_is_replaced(store, frame):
    foreign = register_with_spec(frame, "0" * 16)
    registry.promote(foreign)
    result = train.train(frame, QUICK)
    assert result["alias"] == "champion"
    assert "cannot be served" in result["decision"]


def test_promote_moves_champion_by_hand_and_clears_challenger(store, frame):
    train.train(frame, QUICK)
    train.train(frame, QUICK)
    assert registry.promote("2") == "1"
    assert aliases() == {"champion": "2", "challenger": None}
    assert registry.load().version == "2"
    with pytest.raises(MlflowException):
        registry.promote("9")
    assert aliases()["champion"] == "2"


def test_serving_model_scores_one_row_like_many(store, frame):
    train.train(frame, QUICK)
    model = registry.check(registry.load_uri("models:/volspike-xgb@champion"))
    assert registry.load_uri("models:/volspike-xgb/1").meta == model.meta
    rows = frame[list(FEATURES)].to_numpy()[-50:]
    many = model.predict_many(rows)
    one = np.array([model.predict(list(r)) for r in rows])
    np.testing.assert_allclose(one, many, rtol=1e-9, atol=1e-12)
    assert ((0 <= many) & (many <= 1)).all()
    assert model.meta["feature_spec_hash"] == FEATURE_SPEC_HASH
    with pytest.raises(ValueError, match="no version"):
        registry.load_uri("models:/volspike-xgb@nobody")


def test_check_refuses_another_feature_spec(store, frame):
    registry.promote(register_with_spec(frame, "f" * 16))
    with pytest.raises(registry.Refused, match="feature spec ffff"):
        registry.check(registry.load())


@pytest.mark.parametrize("store", ["server"], indirect=True)
def test_cli_train_promote_evaluate_against_a_real_mlflow_server(store, tmp_path):
    """The CLI contract and the challenger rule, end to end, with --tracking-uri on the server."""
    stack = Stack(tmp_path, "sqlite:///unused.db", tmp_path / "unused")
    uri = ["--tracking-uri", store]
    recording = tmp_path / "market.ndjson"
    simulate_to_file(Market(["BTC-USD", "ETH-USD"], seed=5, start=1.75e9), recording, 900)
    first = stack.run(["train", "--simulated", "900", "--search-seconds", "0", *uri])
    assert first["alias"] == "champion"
    second = stack.run(["train", "--simulated", "900", "--search-seconds", "0", *uri])
    assert int(second["model_version"]) == int(first["model_version"]) + 1
    assert second["alias"] == "challenger"
    assert {"run_id", "test"} <= set(second) and "model" in second["test"]["pr_auc"]

    moved = stack.run(["promote", second["model_version"], *uri])
    assert moved["previous"] == first["model_version"]

    result = stack.run(["evaluate", "--data", str(recording), "--label-quantile", "0.9", *uri])
    assert result["model_version"] == second["model_version"]
    assert set(result["pr_auc"]) == {"model", "persistence", "har_logistic"}
    assert result["rows"] > 500 and abs(result["positive_rate"] - 0.1) < 0.02
