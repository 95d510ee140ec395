"""Several workers in one consumer group: they share the partitions, and survivors take over."""

from __future__ import annotations

import time

import pytest

from models.simulator import Market
from tests.integration.fixtures import by_id, expected_windows
from tests.stack import read_json, samples, wait_until

pytestmark = pytest.mark.integration

#: enough products to spread over the 4 partitions of ticks.raw
PRODUCTS = ["BTC-USD", "ETH-USD", "SOL-USD", "ADA-USD", "XRP-USD", "DOGE-USD"]


def market_in_two_parts(tmp, seconds: int) -> tuple[list, list]:
    """A simulated market, as two NDJSON files of consecutive event time."""
    lines = [raw for _t, _p, raw in Market(PRODUCTS, seed=5, start=1.75e9).messages(seconds)]
    half = len(lines) // 2
    parts = []
    for name, chunk in (("part1", lines[:half]), ("part2", lines[half:])):
        path = tmp / f"{name}.ndjson"
        path.write_bytes(b"\n".join(chunk) + b"\n")
        parts.append(path)
    return parts


def products_scored(worker) -> set[str]:
    return {labels["product"] for labels, value in
            samples(worker.url + "/metrics", "volspike_windows_scored_total") if value > 0}


@pytest.mark.parametrize("workers", [2, 3])
def test_survivors_take_over_a_killed_workers_partitions(stack, tmp_path, workers):
    part1, part2 = market_in_two_parts(tmp_path, 240)
    first, everything = set(expected_windows(part1)), set(expected_windows(part1, part2))
    stack.start_broker()
    group = [stack.start_worker(f"worker{i}") for i in range(workers)]
    for worker in group:
        wait_until(f"{worker.name} to be ready", lambda w=worker: "Worker ready" in
                   w.log.read_text(), 60, worker)

    stack.run(["replay", str(part1), "--max"])
    wait_until("part 1 scored", lambda: first <= set(by_id(
        read_json(stack.bootstrap, "scores"))), 120, group[0])
    owners = {w.name: products_scored(w) for w in group}
    assert sum(1 for p in owners.values() if p) >= 2, f"the work was not shared: {owners}"
    assert set().union(*owners.values()) == set(PRODUCTS)

    victim = max(group, key=lambda w: len(owners[w.name]))
    survivor = next(w for w in group if w is not victim)
    killed = time.monotonic()
    victim.kill()
    stack.run(["replay", str(part2), "--max"])
    # the bound: one session timeout (6 s here) to notice, a rebalance, table recovery
    wait_until("every window scored by the survivors", lambda: everything <= set(by_id(
        read_json(stack.bootstrap, "scores"))), 120, survivor)
    takeover = time.monotonic() - killed

    assert set(by_id(read_json(stack.bootstrap, "scores"))) == everything
    taken = set().union(*(products_scored(w) for w in group if w is not victim))
    assert owners[victim.name] <= taken
    print(f"\n{workers} workers, one killed: its windows scored {takeover:.1f} s later")
