"""Two quirks of the embedded broker, smoothed over for aiokafka.

1. Faust creates its consumer with `fetch_max_wait_ms=1500` and no setting to
change it. librdkafka's mock cluster holds a fetch that found nothing for
that whole time even when records arrive meanwhile, so a quiet partition in
the same fetch delayed every tick by up to 1.5 s and left the worker idle
half the time in a backlog. Consumers here use VOLSPIKE_FETCH_MAX_WAIT_MS
instead (10 ms); with Apache Kafka a shorter wait only means more, emptier
fetches while idle.

2. The consumer-group quirk:

librdkafka's mock cluster answers a SyncGroup that races a new member's join
with INVALID_REQUEST where Apache Kafka says REBALANCE_IN_PROGRESS. aiokafka
treats the former as fatal and the worker never gets partitions, so two
workers that start together could hang. aiokafka has already asked to rejoin
when it raises; returning "no assignment" lets that rejoin happen, exactly as
it does for REBALANCE_IN_PROGRESS. Real Kafka never sends this code here, so
the shim changes nothing in production.
"""

from __future__ import annotations

import logging

import aiokafka
from aiokafka import errors
from aiokafka.consumer.group_coordinator import CoordinatorGroupRebalance

from app.settings import settings

log = logging.getLogger(__name__)

_send_sync_group_request = CoordinatorGroupRebalance._send_sync_group_request


async def _rejoin_on_invalid_request(self, request):
    try:
        return await _send_sync_group_request(self, request)
    except errors.KafkaError as exc:
        if "InvalidRequestError" not in str(exc):
            raise
        log.warning("SyncGroup refused during a rebalance (%s): joining the group again", exc)
        return None


CoordinatorGroupRebalance._send_sync_group_request = _rejoin_on_invalid_request


_consumer_init = aiokafka.AIOKafkaConsumer.__init__


def _init_with_fetch_wait(self, *args, **kwargs) -> None:
    kwargs["fetch_max_wait_ms"] = settings.fetch_max_wait_ms
    _consumer_init(self, *args, **kwargs)


aiokafka.AIOKafkaConsumer.__init__ = _init_with_fetch_wait
