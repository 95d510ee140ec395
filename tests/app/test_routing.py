"""Two workers: a request about a product reaches the worker that owns it."""

from __future__ import annotations

import json
import time

import pytest

from tests.stack import http_get, wait_until

pytestmark = pytest.mark.integration

PRODUCTS = ["BTC-USD", "ETH-USD", "SOL-USD"]


def test_either_worker_answers_for_every_product(stack):
    stack.start_broker()
    first = stack.start_worker("worker-a")
    # one join at a time: the embedded broker can fail a follower's SyncGroup when two
    # members join the group at once
    wait_until("worker-a ready", lambda: http_get(first.url + "/ready")[0] == 200, 60, first)
    second = stack.start_worker("worker-b")
    wait_until("worker-b ready", lambda: http_get(second.url + "/ready")[0] == 200, 60, second)
    stack.run(["simulate", "--seconds", "400", "--max", "--start", str(int(time.time()) - 1000)])

    def get(worker, path):
        status, body = http_get(worker.url + path, timeout=10)
        return status, json.loads(body)

    def listed_by_both() -> bool:
        return all([p["product"] for p in get(w, "/api/products")[1]["products"]] == PRODUCTS
                   for w in (first, second))

    wait_until("both workers to list every product", listed_by_both, 120, second)
    wait_until("the feed's windows, through worker-a", lambda: all(
        len(get(first, f"/api/products/{p}")[1].get("points", [])) >= 300 for p in PRODUCTS),
        120, first)
    for product in PRODUCTS:
        (status_a, a), (status_b, b) = [get(w, f"/api/products/{product}")
                                        for w in (first, second)]
        assert status_a == status_b == 200 and a["product"] == b["product"] == product
        # the same history from the owner (the stream may still be adding to its end)
        assert a["points"][:250] == b["points"][:250] and a["window_end"] <= b["window_end"]
        alerts = [get(w, f"/api/alerts?product={product}")[0] for w in (first, second)]
        assert alerts == [200, 200]
    local = [{p["product"] for p in get(w, "/api/products?local=1")[1]["products"]}
             for w in (first, second)]
    assert local[0] | local[1] == set(PRODUCTS) and not local[0] & local[1]
