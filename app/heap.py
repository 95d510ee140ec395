"""Short garbage-collector pauses for the worker.

A full (generation 2) collection walks every tracked object; a worker's heap
is mostly what it imported (Faust, MLflow, pandas, XGBoost) and the model, so
each full pass stopped the event loop for 100-300 ms, which was the whole tail
of the processing latency (docs/benchmarks.md). Objects that live for the
whole process are moved out of the collector's sight after start-up and
after a model swap (`gc.collect` then `gc.freeze`), so full passes walk only
what the stream itself keeps.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)


def settle() -> None:
    """Collect, then freeze what is alive: garbage frozen would never be freed. After the
    first time the collection walks only what was made since, so it is short."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    log.info("heap settled in %.0f ms", (time.perf_counter() - started) * 1e3)
