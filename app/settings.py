"""Every setting, read once from `VOLSPIKE_*` environment variables.

Each entry documents its default; docs/configuration.md lists them for users.
The broker URL defaults to the embedded broker's address, which
`python -m app broker` publishes in `<data dir>/broker.json`.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str) -> str:
    return os.environ.get(f"VOLSPIKE_{name}", default)


def _float(name: str, default: float) -> float:
    raw = _env(name, str(default))
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"VOLSPIKE_{name}={raw!r} is not a number") from None


def _int(name: str, default: int) -> int:
    raw = _env(name, str(default))
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"VOLSPIKE_{name}={raw!r} is not an integer") from None


def _bool(name: str, default: bool) -> bool:
    return _env(name, "true" if default else "false").strip().lower() in ("1", "true", "yes", "on")


def broker_file(data_dir: Path) -> Path:
    return data_dir / "broker.json"


def _default_broker(data_dir: Path) -> str:
    path = broker_file(data_dir)
    if path.exists():
        try:
            return "kafka://" + json.loads(path.read_text())["bootstrap"]
        except (ValueError, KeyError):
            pass
    return "kafka://127.0.0.1:9092"


@dataclass(frozen=True)
class Settings:
    #: VOLSPIKE_DATA_DIR — where state lives: RocksDB, MLflow store, broker address. ./var
    data_dir: Path = field(default_factory=lambda: Path(_env("DATA_DIR", "var")).resolve())
    #: VOLSPIKE_APP_ID — Faust app id: consumer group and changelog topic prefix. volspike
    app_id: str = field(default_factory=lambda: _env("APP_ID", "volspike"))
    #: VOLSPIKE_BROKER_URL — Kafka bootstrap, e.g. kafka://host:9092 (comma-separated for
    #: several). Default: the embedded broker from <data dir>/broker.json, else
    #: kafka://127.0.0.1:9092.
    broker_url: str = ""
    #: VOLSPIKE_PARTITIONS — partitions of every topic Faust creates. 4 (the embedded
    #: broker auto-creates every topic with 4).
    partitions: int = field(default_factory=lambda: _int("PARTITIONS", 4))
    #: VOLSPIKE_TOPIC_DECLARE — let Faust create topics (Apache Kafka) instead of relying
    #: on broker auto-creation (the embedded broker cannot create topics). false
    topic_declare: bool = field(default_factory=lambda: _bool("TOPIC_DECLARE", False))
    #: VOLSPIKE_FETCH_MAX_WAIT_MS — longest a fetch waits for new records, ms. Faust fixes
    #: 1500; the embedded broker holds an empty fetch that long even when records arrive,
    #: which then delays every tick by up to 1.5 s. 10
    fetch_max_wait_ms: int = field(default_factory=lambda: _int("FETCH_MAX_WAIT_MS", 10))
    #: VOLSPIKE_PRODUCER_LINGER_MS — how long the worker's producer gathers records into
    #: one request (scores, changelogs), ms: fewer, larger requests. 5
    producer_linger_ms: int = field(default_factory=lambda: _int("PRODUCER_LINGER_MS", 5))
    #: VOLSPIKE_PRODUCER_BATCH_BYTES — the largest record batch the worker's producer builds,
    #: bytes. A message's scores go out as one batch (app/batchsend.py); at ~1.2 kB a score,
    #: Kafka's 16 kB default would split a backlog message's scores into several, each
    #: waiting for the one before it. Must stay below the broker's message.max.bytes. 262144
    producer_batch_bytes: int = field(
        default_factory=lambda: _int("PRODUCER_BATCH_BYTES", 256 * 1024))
    #: VOLSPIKE_SESSION_TIMEOUT — consumer-group session timeout, seconds: how long a dead
    #: worker keeps its partitions. 10
    session_timeout: float = field(default_factory=lambda: _float("SESSION_TIMEOUT", 10.0))
    #: VOLSPIKE_STANDBY_REPLICAS — standby copies of each table partition kept by other
    #: workers, so a takeover does not replay the whole changelog. 1
    standby_replicas: int = field(default_factory=lambda: _int("STANDBY_REPLICAS", 1))
    #: VOLSPIKE_KAFKA_SECURITY_PROTOCOL — PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL. PLAINTEXT
    kafka_security_protocol: str = field(
        default_factory=lambda: _env("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    )
    #: VOLSPIKE_KAFKA_SASL_MECHANISM — PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512. PLAIN
    kafka_sasl_mechanism: str = field(default_factory=lambda: _env("KAFKA_SASL_MECHANISM", "PLAIN"))
    #: VOLSPIKE_KAFKA_SASL_USERNAME / VOLSPIKE_KAFKA_SASL_PASSWORD — SASL credentials. empty
    kafka_sasl_username: str = field(default_factory=lambda: _env("KAFKA_SASL_USERNAME", ""))
    kafka_sasl_password: str = field(
        default_factory=lambda: _env("KAFKA_SASL_PASSWORD", ""), repr=False
    )
    #: VOLSPIKE_KAFKA_SSL_CAFILE — CA bundle to verify the brokers; empty: the system's.
    kafka_ssl_cafile: str = field(default_factory=lambda: _env("KAFKA_SSL_CAFILE", ""))
    #: VOLSPIKE_WEB_HOST / VOLSPIKE_WEB_PORT — the worker's web server. 127.0.0.1:6066
    web_host: str = field(default_factory=lambda: _env("WEB_HOST", "127.0.0.1"))
    web_port: int = field(default_factory=lambda: _int("WEB_PORT", 6066))
    #: VOLSPIKE_WEB_URL — where the other workers reach this one's web server (requests
    #: for a key another worker owns are forwarded there). http://<web host>:<web port>,
    #: the machine's hostname instead of a 0.0.0.0 web host.
    web_url: str = ""
    #: VOLSPIKE_ADMIN_TOKEN — bearer token for the admin endpoints (POST /admin/reload,
    #: /admin/promote); empty: they answer 403. Never logged.
    admin_token: str = field(default_factory=lambda: _env("ADMIN_TOKEN", ""), repr=False)
    #: VOLSPIKE_LOG_JSON — the worker's log lines as JSON objects, one per line. false
    log_json: bool = field(default_factory=lambda: _bool("LOG_JSON", False))
    #: VOLSPIKE_GIT_REVISION — the source revision /version reports; empty: asks git
    #: (images are built without .git, so the Dockerfile sets it).
    git_revision: str = field(default_factory=lambda: _env("GIT_REVISION", ""))
    #: VOLSPIKE_INGEST_METRICS_PORT — the ingester serves its /metrics on this port, on
    #: VOLSPIKE_WEB_HOST's address; 0 disables. 0
    ingest_metrics_port: int = field(default_factory=lambda: _int("INGEST_METRICS_PORT", 0))
    #: VOLSPIKE_MLFLOW_TRACKING_URI — MLflow tracking and registry.
    #: sqlite:///<data dir>/mlflow/mlflow.db
    mlflow_tracking_uri: str = ""
    #: VOLSPIKE_MLFLOW_ARTIFACTS — artifact folder for the local sqlite store.
    #: <data dir>/mlflow/artifacts
    mlflow_artifacts: Path = field(default_factory=lambda: Path())
    #: VOLSPIKE_PRODUCTS — products to ingest and simulate. BTC-USD,ETH-USD,SOL-USD
    products: tuple[str, ...] = field(
        default_factory=lambda: tuple(
            p.strip() for p in _env("PRODUCTS", "BTC-USD,ETH-USD,SOL-USD").split(",") if p.strip()
        )
    )
    #: VOLSPIKE_GRACE_SECONDS — event time must pass a bar's end by this much before the
    #: bar closes; ticks later than that are counted and dropped. 0.25
    grace_seconds: float = field(default_factory=lambda: _float("GRACE_SECONDS", 0.25))
    #: VOLSPIKE_IDLE_CLOSE_SECONDS — live only: close a product's open bar after this many
    #: wall-clock seconds without a tick (0 disables). 2
    idle_close_seconds: float = field(default_factory=lambda: _float("IDLE_CLOSE_SECONDS", 2.0))
    #: VOLSPIKE_LIVE_TOLERANCE_SECONDS — a product counts as live (and the idle timer may
    #: close its bars) when its event time is within this of the wall clock; replayed
    #: history never is, so replays stay deterministic. 30
    live_tolerance_seconds: float = field(
        default_factory=lambda: _float("LIVE_TOLERANCE_SECONDS", 30.0)
    )
    #: VOLSPIKE_BAR_RETENTION_SECONDS — how long closed bars stay in the bars table, in
    #: event time (≥ the 300 s feature span). 600
    bar_retention_seconds: int = field(default_factory=lambda: _int("BAR_RETENTION_SECONDS", 600))
    #: VOLSPIKE_ALERT_THRESHOLD — alert when the probability reaches this; empty: the
    #: threshold stored with the serving model.
    alert_threshold: float | None = field(
        default_factory=lambda: (
            _float("ALERT_THRESHOLD", 0.0) if _env("ALERT_THRESHOLD", "") else None
        )
    )
    #: VOLSPIKE_ALERT_HYSTERESIS — an alert re-arms once the probability falls this far
    #: below the threshold. 0.1
    alert_hysteresis: float = field(default_factory=lambda: _float("ALERT_HYSTERESIS", 0.1))
    #: VOLSPIKE_ALERT_COOLDOWN_SECONDS — at least this much event time between two alerts
    #: of one product. 60
    alert_cooldown_seconds: float = field(
        default_factory=lambda: _float("ALERT_COOLDOWN_SECONDS", 60.0)
    )
    #: VOLSPIKE_PERSISTENCE_TAU — realized-volatility threshold of the persistence fallback
    #: used while no model is registered (probability 0.5 at τ). 0.0004
    persistence_tau: float = field(default_factory=lambda: _float("PERSISTENCE_TAU", 0.0004))
    #: VOLSPIKE_COINBASE_WS_URL — the live feed. wss://advanced-trade-ws.coinbase.com
    coinbase_ws_url: str = field(
        default_factory=lambda: _env("COINBASE_WS_URL", "wss://advanced-trade-ws.coinbase.com")
    )
    #: VOLSPIKE_HEARTBEAT_TIMEOUT — seconds without any message before the ingester
    #: reconnects. 10
    heartbeat_timeout: float = field(default_factory=lambda: _float("HEARTBEAT_TIMEOUT", 10.0))
    #: VOLSPIKE_MODEL_POLL_SECONDS — how often the worker asks the registry whether
    #: @champion moved; a new champion is loaded, checked, warmed up and swapped in. 30
    model_poll_seconds: float = field(default_factory=lambda: _float("MODEL_POLL_SECONDS", 30.0))
    #: VOLSPIKE_TARGET_PRECISION — training picks the alert threshold reaching this precision
    #: on validation rows; empty: use VOLSPIKE_TARGET_ALERT_RATE.
    target_precision: float | None = field(
        default_factory=lambda: (
            _float("TARGET_PRECISION", 0.0) if _env("TARGET_PRECISION", "") else None
        )
    )
    #: VOLSPIKE_TARGET_ALERT_RATE — training picks the alert threshold that alerts on this
    #: share of validation windows (when no target precision is set or reached). 0.05
    target_alert_rate: float = field(default_factory=lambda: _float("TARGET_ALERT_RATE", 0.05))
    #: VOLSPIKE_SEARCH_SECONDS — time budget of training's hyperparameter search. 20
    search_seconds: float = field(default_factory=lambda: _float("SEARCH_SECONDS", 20.0))
    #: VOLSPIKE_ARCHIVE_DIR — the Parquet archive of bars, features and scores.
    #: <data dir>/archive
    archive_dir: Path = field(default_factory=lambda: Path())
    #: VOLSPIKE_ARCHIVE_ROLL_ROWS — the archive writes its files (releasing the acks of the
    #: ticks behind them) once this many rows are buffered in memory … 5000
    archive_roll_rows: int = field(default_factory=lambda: _int("ARCHIVE_ROLL_ROWS", 5000))
    #: VOLSPIKE_ARCHIVE_ROLL_SECONDS — … or once the oldest buffered row is this old. 60
    archive_roll_seconds: float = field(
        default_factory=lambda: _float("ARCHIVE_ROLL_SECONDS", 60.0)
    )
    #: VOLSPIKE_DRIFT_INTERVAL_SECONDS — how often the worker checks the recent archive
    #: for drift against the champion's training profile; 0 disables. 600
    drift_interval_seconds: float = field(
        default_factory=lambda: _float("DRIFT_INTERVAL_SECONDS", 600.0)
    )
    #: VOLSPIKE_DRIFT_WINDOW_SECONDS — the recent archive the check reads: this much event
    #: time back from the newest archived window. 3600
    drift_window_seconds: float = field(
        default_factory=lambda: _float("DRIFT_WINDOW_SECONDS", 3600.0)
    )
    #: VOLSPIKE_DRIFT_THRESHOLD — a feature drifts when its normed Wasserstein distance to
    #: the reference reaches this (1-second features are autocorrelated and spikes cluster:
    #: interleaved halves of two hours of one simulated market differ by up to 0.3). 0.4
    drift_threshold: float = field(default_factory=lambda: _float("DRIFT_THRESHOLD", 0.4))
    #: VOLSPIKE_DRIFT_SHARE — the dataset drifts when this share of features drifts (a pure
    #: volatility shift moves the level features rv_*, not the scale-free ones). 0.15
    drift_share: float = field(default_factory=lambda: _float("DRIFT_SHARE", 0.15))
    #: VOLSPIKE_LIVE_QUALITY_SECONDS — the rolling window of the live PR-AUC, event time. 3600
    live_quality_seconds: float = field(
        default_factory=lambda: _float("LIVE_QUALITY_SECONDS", 3600.0)
    )
    #: VOLSPIKE_RETRAIN_INTERVAL_SECONDS — the worker retrains from the archive this often;
    #: 0 (default) disables the schedule.
    retrain_interval_seconds: float = field(
        default_factory=lambda: _float("RETRAIN_INTERVAL_SECONDS", 0.0)
    )
    #: VOLSPIKE_RETRAIN_DRIFT_SHARE — a drift check whose drift share reaches this starts a
    #: retrain; 0 (default) disables.
    retrain_drift_share: float = field(
        default_factory=lambda: _float("RETRAIN_DRIFT_SHARE", 0.0)
    )
    #: VOLSPIKE_RETRAIN_WINDOW_SECONDS — retraining reads this much of the archive's most
    #: recent event time. 86400
    retrain_window_seconds: float = field(
        default_factory=lambda: _float("RETRAIN_WINDOW_SECONDS", 86400.0)
    )

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not self.broker_url:
            set_(self, "broker_url", _env("BROKER_URL", "") or _default_broker(self.data_dir))
        if not self.web_url:
            host = self.web_host if self.web_host != "0.0.0.0" else socket.gethostname()
            set_(self, "web_url", _env("WEB_URL", "") or f"http://{host}:{self.web_port}")
        if not self.mlflow_tracking_uri:
            default = f"sqlite:///{self.data_dir / 'mlflow' / 'mlflow.db'}"
            set_(self, "mlflow_tracking_uri", _env("MLFLOW_TRACKING_URI", default))
        if self.mlflow_artifacts == Path():
            default = str(self.data_dir / "mlflow" / "artifacts")
            set_(self, "mlflow_artifacts", Path(_env("MLFLOW_ARTIFACTS", default)).resolve())
        if self.archive_dir == Path():
            default = str(self.data_dir / "archive")
            set_(self, "archive_dir", Path(_env("ARCHIVE_DIR", default)).resolve())

    @property
    def bootstrap_servers(self) -> str:
        """The broker URL as aiokafka wants it: host:port[,host:port]."""
        return _host_ports(self.broker_url)

    def current_bootstrap(self) -> str:
        """`bootstrap_servers`, following the embedded broker's address file as it changes
        when no VOLSPIKE_BROKER_URL is set: a source started before the broker finds it."""
        if _env("BROKER_URL", ""):
            return self.bootstrap_servers
        return _host_ports(_default_broker(self.data_dir))


def _host_ports(url: str) -> str:
    return ",".join(part.split("://", 1)[-1] for part in url.split(","))


settings = Settings()
