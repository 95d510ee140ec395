"""Live PR-AUC: the same labels and numbers as offline evaluation on the same windows."""

from __future__ import annotations

import numpy as np
import pytest

from models import baselines, dataset, metrics
from models.features import FEATURES
from models.labels import threshold
from models.live import LiveQuality
from models.simulator import Market


def test_live_pr_auc_matches_offline_evaluation():
    market = Market(start=1.7e9, seed=3)
    bars = dataset.build_bars(dataset.iter_ticks(raw for _t, _p, raw in market.messages(1200)))
    frame = dataset.feature_frame(bars)
    x = dataset.feature_matrix(frame)
    frame["probability"] = baselines.persistence(x, 2e-4) * 0.9  # any score will do
    live = LiveQuality(window=10_000)
    by_key = {(b.product, b.end): b for bs in bars.values() for b in bs}
    for record in frame.to_dict("records"):
        bar = by_key[(record["product"], record["window_end"])]
        vector = [record[name] for name in FEATURES]
        live.observe(bar, vector, record["probability"])
        live.observe(bar, vector, 0.0)  # a redelivery changes nothing

    rows = dataset.labelled(frame)
    tau = threshold(rows["future_rv"].to_numpy(), 0.9)
    y = (rows["future_rv"].to_numpy() >= tau).astype(np.int32)
    result = live.copy().evaluate(tau)
    assert result["rows"] == len(rows) and result["positives"] == y.sum() > 0
    assert result["pr_auc"]["model"] == pytest.approx(
        metrics.pr_auc(y, rows["probability"].to_numpy()))
    assert result["pr_auc"]["persistence"] == pytest.approx(
        metrics.pr_auc(y, baselines.persistence(dataset.feature_matrix(rows), tau)))

    short = LiveQuality(window=300)  # the rolling window forgets older windows
    for record in frame.to_dict("records"):
        short.observe(by_key[(record["product"], record["window_end"])],
                      [record[name] for name in FEATURES], 0.5)
    assert short.evaluate(tau)["rows"] <= 3 * 301
