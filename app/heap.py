"""Short garbage-collector pauses for the worker.

A full (generation 2) collection walks every tracked object; a worker's heap
is mostly what it imported (Faust, MLflow, pandas, XGBoost) and the model, so
each full pass stopped the event loop for 100-300 ms, which was the whole tail
of the processing latency (docs/benchmarks.md). Objects that live for the
whole process are moved out of the collector's sight once, after start-up and
after a model swap (`gc.freeze`), so full passes walk only what the stream
itself keeps.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)


def settle(collect: bool = True) -> None:
    """Freeze what is alive now; `collect` first drops garbage (a pause of its own)."""
    started = time.perf_counter()
    if collect:
        gc.collect()
    gc.freeze()
    log.info("heap settled: %d objects frozen in %.0f ms", gc.get_freeze_count(),
             (time.perf_counter() - started) * 1e3)
