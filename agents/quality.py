"""Timers watching the model in production: feature drift, live PR-AUC, retraining.

Every `VOLSPIKE_DRIFT_INTERVAL_SECONDS` the recent archive is compared with
the champion's training profile (models/drift.py) in a thread, off the event
loop; the gauges and the report served at GET /drift follow. A drift share
at or above `VOLSPIKE_RETRAIN_DRIFT_SHARE`, or the optional retrain schedule,
starts `python -m app retrain` as a child process: the registry's promotion
rule decides, and the scorer's registry poll serves a new champion without
a restart.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path

from agents.scoring import scorer
from app import metrics
from app.core import app
from app.settings import settings
from models import archive, drift
from models.features import FEATURES
from models.live import LiveQuality

log = logging.getLogger(__name__)

#: every scored window, fed by the windows stage, for the live PR-AUC
live = LiveQuality(settings.live_quality_seconds)

REPORT_DIR = settings.data_dir / "drift"
LIVE_QUALITY_INTERVAL = 10.0


class DriftMonitor:
    """The latest drift check of this worker, and why there is none yet."""

    def __init__(self, folder: Path) -> None:
        self.html, self.json = folder / "latest.html", folder / "latest.json"
        self.summary: dict | None = None
        self.status = "no drift check has run yet"
        self._reference: tuple[str, object] | None = None  # (run id, frame or None)

    async def check(self) -> None:
        model = scorer.model
        if model is None:
            return self._skip("no champion is serving: nothing to compare with")
        if self._reference is None or self._reference[0] != model.run_id:
            self._reference = (model.run_id,
                               await asyncio.to_thread(drift.load_reference, model.run_id))
        reference = self._reference[1]
        if reference is None:
            return self._skip(f"{model.name} version {model.version} has no training profile "
                              f"({drift.REFERENCE_ARTIFACT}): retrain it")
        try:
            result = await asyncio.to_thread(self._run, reference)
        except drift.NoData as exc:
            return self._skip(f"not enough archived windows yet: {exc}")
        except Exception as exc:  # noqa: BLE001 - a failed check must not stop the worker
            metrics.DRIFT_CHECKS.labels("error").inc()
            self.status = f"drift check failed: {exc!r}"
            log.exception("drift check failed")
            return None
        summary = {**result, "model_version": model.version, "checked_at": time.time()}
        self.summary, self.status = summary, "ok"
        metrics.DRIFT_CHECKS.labels("ok").inc()
        metrics.DRIFT_SHARE.set(summary["drift_share"])
        for name in FEATURES:
            metrics.FEATURE_DRIFT.labels(name).set(summary["feature_drift"][name])
        if summary["prediction_drift"] is not None:
            metrics.PREDICTION_DRIFT.set(summary["prediction_drift"])
        log.info("drift check: share %.2f, drifting %s", summary["drift_share"],
                 ",".join(summary["drifted_features"]) or "none")
        if 0 < settings.retrain_drift_share <= summary["drift_share"]:
            retrainer.start(f"drift share {summary['drift_share']:.2f}")
        return None

    def _run(self, reference) -> dict:
        newest = archive.newest_window_end(settings.archive_dir)
        if newest is None:
            raise drift.NoData(f"the archive at {settings.archive_dir} is empty")
        current = archive.read(settings.archive_dir, since=newest - settings.drift_window_seconds)
        result = drift.check(reference, current, settings.drift_threshold, settings.drift_share)
        result.write(self.html, self.json)
        return result.summary

    def _skip(self, reason: str) -> None:
        if reason != self.status:
            log.info("drift check skipped: %s", reason)
        self.status = reason
        metrics.DRIFT_CHECKS.labels("skipped").inc()


class Retrainer:
    """At most one `python -m app retrain` child at a time."""

    def __init__(self) -> None:
        self.task: asyncio.Task | None = None

    def start(self, reason: str) -> bool:
        if self.task is not None and not self.task.done():
            return False
        log.info("retraining from the archive: %s", reason)
        self.task = asyncio.ensure_future(self._run())
        return True

    async def _run(self) -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app", "retrain", stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        if proc.returncode == 0:
            metrics.RETRAINS.labels("ok").inc()
            log.info("retrain done: %s", out.decode().strip().splitlines()[-1:])
        else:
            metrics.RETRAINS.labels("failed").inc()
            log.error("retrain failed (exit %s): %s", proc.returncode, err.decode()[-500:])
        await scorer.refresh()  # a promotion serves at once, not at the next poll


monitor = DriftMonitor(REPORT_DIR)
retrainer = Retrainer()


@app.timer(interval=LIVE_QUALITY_INTERVAL)
async def live_quality() -> None:
    """The live PR-AUC gauges: the model's and the baselines' on the same rows."""
    model = scorer.model
    tau = model.tau if model is not None else settings.persistence_tau
    har = model.meta.get("har_logistic") if model is not None else None
    # a copy taken on the loop: the agent keeps appending while the thread computes
    quality = await asyncio.to_thread(live.copy().evaluate, tau, har)
    metrics.LIVE_LABELLED.set(quality["rows"])
    for name, value in quality["pr_auc"].items():
        metrics.LIVE_PR_AUC.labels(name).set(value)


if settings.drift_interval_seconds > 0:

    @app.timer(interval=settings.drift_interval_seconds)
    async def check_drift() -> None:
        await monitor.check()


if settings.retrain_interval_seconds > 0:

    @app.timer(interval=settings.retrain_interval_seconds)
    async def scheduled_retrain() -> None:
        retrainer.start("schedule")
