"""`python -m app alerts`: the alerts topic as a readable table, for people.

Reads every partition from the beginning with no consumer group (so it never
commits offsets or joins anyone's group), drops redelivered alerts by id, and either stops at
the end of the topic or, with `follow`, keeps printing new alerts.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable

import orjson
from aiokafka import AIOKafkaConsumer

from app.kafka_auth import aiokafka_auth
from app.settings import settings

TOPIC = "alerts"
COLUMNS = ("time (UTC)", "product", "severity", "probability", "threshold", "model", "drivers")
WIDTHS = (19, 10, 8, 11, 9, 18, 0)
#: without --follow, how long to wait for the topic's metadata before saying "none"
NEW_TOPIC_WAIT = 5.0


def row(values: tuple[str, ...]) -> str:
    return "  ".join(v.ljust(w) if w else v for v, w in zip(values, WIDTHS, strict=True))


def format_alert(alert: dict) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(alert["window_end"]))
    model = f"{alert['model_name']} v{alert['model_version']}"
    return row((when, alert["product"], alert["severity"], f"{alert['probability']:.3f}",
                f"{alert['threshold']:.3f}", model, ", ".join(alert.get("drivers") or {})))


async def print_alerts(bootstrap: str, product: str | None, follow: bool,
                       out: Callable[[str], None] = lambda line: print(line, flush=True)) -> int:
    """Print the alerts (of `product`); returns how many were printed."""
    consumer = AIOKafkaConsumer(TOPIC, bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", metadata_max_age_ms=5000,
                                **aiokafka_auth(settings))
    await consumer.start()
    try:
        out(row(COLUMNS))
        waited = 0.0
        while not (tps := consumer.assignment()):
            if not follow and waited > NEW_TOPIC_WAIT:
                return 0  # no alert yet: the topic does not exist
            await asyncio.sleep(0.2)
            waited += 0.2
        ends = await consumer.end_offsets(list(tps))
        seen: set[str] = set()
        while follow or await _behind(consumer, ends):
            batches = await consumer.getmany(timeout_ms=500)
            for message in (m for batch in batches.values() for m in batch):
                try:
                    alert = orjson.loads(message.value)
                    line = format_alert(alert)
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                    print(f"unreadable alert at offset {message.offset}", file=sys.stderr)
                    continue
                if alert["id"] in seen or (product and alert["product"] != product):
                    continue
                seen.add(alert["id"])
                out(line)
        return len(seen)
    finally:
        await consumer.stop()


async def _behind(consumer: AIOKafkaConsumer, ends: dict) -> bool:
    """Whether some partition has not been read up to `ends` yet."""
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return True
    return False
