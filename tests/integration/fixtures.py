"""What the integration tests share: recordings, offline expectations, deduplication."""

from __future__ import annotations

from pathlib import Path

from models.dataset import build_bars, feature_frame, iter_messages, iter_ticks
from models.features import FEATURES

RECORDING = "advanced-trade/btc-eth-usd_2026-04-04T0319Z_11min.ndjson"
#: the Exchange feed's format; recorded months before RECORDING, so it is replayed first
EXCHANGE = "exchange-feed/btc-usd_2025-11-12to14_trades_4segments.ndjson"


def expected_windows(*paths: Path) -> dict[str, dict]:
    """Offline, with the worker's own code: score id → features of every closed window."""
    frame = feature_frame(build_bars(iter_ticks(iter_messages(paths))))
    return {
        f"{row['product']}:{row['window_end']}": {name: row[name] for name in FEATURES}
        for row in frame.to_dict("records")
    }


def by_id(messages: list[dict]) -> dict[str, dict]:
    """One message per id (at-least-once consumers dedupe so); duplicates must be identical."""
    out: dict[str, dict] = {}
    for message in messages:
        first = out.setdefault(message["id"], message)
        assert first == message, f"two different messages with id {message['id']}"
    return out
