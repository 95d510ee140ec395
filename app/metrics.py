"""Prometheus metrics (prefix volspike_, base units, bounded labels)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

TICKS = Counter("volspike_ticks_total", "Ticks applied to bars", ["product", "source"])
REJECTED = Counter("volspike_rejected_ticks_total", "Messages sent to ticks.dlq", ["reason"])
DUPLICATES = Counter("volspike_duplicate_ticks_total", "Ticks dropped as duplicates", ["product"])
LATE = Counter("volspike_late_ticks_total", "Ticks dropped past the grace period", ["product"])
CONTROL = Counter("volspike_control_messages_total", "Subscriptions/heartbeat messages skipped")
WINDOWS = Counter("volspike_windows_scored_total", "Closed 1-second windows scored", ["product"])
SCORING_ERRORS = Counter(
    "volspike_scoring_errors_total", "Windows the model failed on (scored by the baseline)"
)
ALERTS = Counter("volspike_alerts_total", "Alerts emitted", ["product", "severity"])
SCORING_SECONDS = Histogram(
    "volspike_scoring_seconds",
    "Features + model time per closed window",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1),
)
EVENT_LAG_SECONDS = Histogram(
    "volspike_event_lag_seconds",
    "Wall clock minus window end when the window is scored",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600, 3600, 86400),
)
MODEL_INFO = Gauge(
    "volspike_model_info", "The serving model (value 1)", ["name", "version", "alias"]
)
INGEST_MESSAGES = Counter("volspike_ingest_messages_total", "Messages produced", ["source"])
INGEST_CONNECTED = Gauge("volspike_ingest_connected", "1 while the live feed is connected")
INGEST_RECONNECTS = Counter("volspike_ingest_reconnects_total", "Live feed reconnects")
SEQUENCE_GAPS = Counter("volspike_sequence_gaps_total", "Gaps in the feed's sequence numbers")
PREDICT_REQUESTS = Counter(
    "volspike_predict_requests_total", "POST /predict requests by HTTP status", ["status"]
)
MODEL_RELOADS = Counter(
    "volspike_model_reloads_total",
    "Registry model loads: loaded (first), swapped (hot reload), refused, error (registry down)",
    ["result"],
)
PROBABILITY = Gauge(
    "volspike_spike_probability", "Spike probability of the newest scored window", ["product"]
)
THRESHOLD = Gauge("volspike_alert_threshold", "Probability at which an alert fires")
# the archive, drift and live quality (agents/archive.py, agents/drift.py)
ARCHIVE_ROWS = Counter("volspike_archive_rows_total", "Scored windows written to the archive")
ARCHIVE_FILES = Counter("volspike_archive_files_total", "Parquet files completed in the archive")
ARCHIVE_ERRORS = Counter(
    "volspike_archive_errors_total", "Archive writes that failed (retried at the next roll)"
)
DRIFT_SHARE = Gauge("volspike_drift_share", "Share of features drifting from the training profile")
FEATURE_DRIFT = Gauge(
    "volspike_feature_drift", "Normed Wasserstein distance of a feature to training", ["feature"]
)
PREDICTION_DRIFT = Gauge(
    "volspike_prediction_drift", "Normed Wasserstein distance of the scores to training"
)
DRIFT_CHECKS = Counter("volspike_drift_checks_total", "Drift checks by result", ["result"])
LIVE_PR_AUC = Gauge(
    "volspike_live_pr_auc", "PR-AUC on recent windows whose label horizon has passed", ["model"]
)
LIVE_LABELLED = Gauge("volspike_live_labelled_windows", "Windows behind volspike_live_pr_auc")
RETRAINS = Counter("volspike_retrains_total", "Retrains started by the worker, by result",
                   ["result"])
