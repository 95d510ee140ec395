"""One consumer-group quirk of the embedded broker, smoothed over for aiokafka.

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

from aiokafka import errors
from aiokafka.consumer.group_coordinator import CoordinatorGroupRebalance

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
