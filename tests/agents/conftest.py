"""The Faust app in this process, for `agent.test_context()` tests.

Events are fed straight to the agents; what they send (scores, alerts, dead
letters, changelogs) goes to the session's embedded broker, so the tests read
real topics. Tables use the memory store: RocksDB is covered by the worker
processes of the integration tests.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from tests.stack import read_json


@pytest.fixture(scope="session")
def faust_app():
    """The app, on one event loop for the session (its producer is bound to it)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    import app.__main__  # noqa: F401  registers agents, tables, pages
    from app.core import app

    app.conf.store = "memory://"
    app.finalize()
    app.flow_control.resume()
    yield app
    loop.run_until_complete(app.producer.stop())
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def run(faust_app):
    """Run a coroutine on the app's loop."""
    return asyncio.get_event_loop().run_until_complete


@pytest.fixture
def topic_reader():
    """Messages of a topic for the given products (other tests share the broker)."""
    bootstrap = os.environ["VOLSPIKE_TEST_BROKER"]

    def read(topic: str, products: set[str] | None = None) -> list[dict]:
        out = read_json(bootstrap, topic)
        return [m for m in out if products is None or m.get("product") in products]

    return read


@pytest.fixture(autouse=True)
def fresh_partitions(faust_app):
    """Each test starts as after a rebalance: test contexts restart their offsets at 0, so
    another test's open bars and unarchived windows would hold this test's acks."""
    from agents.windows import stage

    stage.on_revoked(set(stage.pending))
