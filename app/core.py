"""The Faust app object and its topics."""

from __future__ import annotations

import faust

import app.kafka_compat  # noqa: F401  before any consumer joins a group
from app.kafka_auth import credentials
from app.logs import JSON_LOGGING
from app.records import Alert, DeadLetter, Score
from app.settings import settings

# Faust creates its datadir but not the parents: a fresh VOLSPIKE_DATA_DIR must work
settings.data_dir.mkdir(parents=True, exist_ok=True)

app = faust.App(
    settings.app_id,
    broker=settings.broker_url,
    broker_credentials=credentials(settings),
    store="rocksdb://",
    datadir=str(settings.data_dir / "worker"),
    topic_partitions=settings.partitions,
    topic_allow_declare=settings.topic_declare,
    topic_disable_leader=True,
    broker_session_timeout=settings.session_timeout,
    table_standby_replicas=settings.standby_replicas,
    # the windows agent holds the ticks of open bars unacked on purpose; waiting for
    # them would stall every rebalance and shutdown. They are redelivered instead.
    stream_wait_empty=False,
    broker_heartbeat_interval=min(3.0, settings.session_timeout / 3),
    producer_linger=settings.producer_linger_ms / 1000,
    producer_max_batch_size=settings.producer_batch_bytes,
    web_bind=settings.web_host,
    web_host=settings.web_host,
    web_port=settings.web_port,
    canonical_url=settings.web_url,
    logging_config=JSON_LOGGING if settings.log_json else None,
    web_in_thread=False,
    autodiscover=False,
    # ticks are read as raw bytes; records say their own serializer
    key_serializer="raw",
    value_serializer="raw",
)

raw_topic = app.topic("ticks.raw", key_type=bytes, value_type=bytes)
dlq_topic = app.topic("ticks.dlq", key_type=bytes, value_type=DeadLetter, value_serializer="json")
scores_topic = app.topic("scores", key_type=bytes, value_type=Score, value_serializer="json")
alerts_topic = app.topic("alerts", key_type=bytes, value_type=Alert, value_serializer="json")
