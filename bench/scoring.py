"""Scoring cost per window, in-process: features + model predict on one row, warm.

Exactly what the worker runs per closed bar (`WindowStage._score`): `compute`
over the product's bar history, then the champion's single-row `predict`.
The bars come from the benchmark's own input, built by the worker's code.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

import numpy as np

from bench.feed import Item
from models import registry
from models.dataset import build_bars, iter_ticks
from models.features import History, compute

WARMUP = 200


def _percentiles(ns: list[int]) -> dict:
    ms = np.asarray(ns[WARMUP:], dtype=np.float64) / 1e6
    return {f"p{q}": round(float(np.percentile(ms, q)), 4) for q in (50, 95, 99)} | {
        "mean": round(float(ms.mean()), 4)}


def scoring_cost(items: Iterable[Item], tracking_uri: str, artifacts: str,
                 calls: int = 10_000) -> dict:
    """p50/p95/p99 ms of features + predict (and of each) over `calls` windows."""
    registry.configure(tracking_uri, artifacts)
    model = registry.load()
    if model is None:
        raise SystemExit(f"no champion in the registry at {tracking_uri}")
    # the busiest product's bars, in order, as one worker's history sees them
    bars = max(build_bars(iter_ticks(i.value for i in items)).values(), key=len, default=[])
    if not bars:
        raise SystemExit("no closed bars to score")
    features_ns, predict_ns, total_ns = [], [], []
    history = History()
    for n in range(calls + WARMUP):
        if n % len(bars) == 0:
            history = History()
        history.push(bars[n % len(bars)])
        t0 = time.perf_counter_ns()
        row = compute(history)
        t1 = time.perf_counter_ns()
        model.predict(row)
        t2 = time.perf_counter_ns()
        features_ns.append(t1 - t0)
        predict_ns.append(t2 - t1)
        total_ns.append(t2 - t0)
    return {**_percentiles(total_ns), "calls": calls, "features": _percentiles(features_ns),
            "predict": _percentiles(predict_ns), "model_version": model.version,
            "load_average": [round(x, 2) for x in os.getloadavg()]}
