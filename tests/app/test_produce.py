"""RawPublisher: a backlog goes out in batches, in order; a live trickle one by one."""

from __future__ import annotations

import asyncio
import os

from app.produce import Batcher, RawPublisher, split_frames
from tests.agents.fixtures import T0, quotes
from tests.stack import read_topic


def published(keys: set[bytes | None]) -> list:
    return [m for m in read_topic(os.environ["VOLSPIKE_TEST_BROKER"], "ticks.raw")
            if m.key() in keys]


def test_a_backlog_goes_out_in_batches_each_product_in_order():
    first, second = quotes("P1-USD", 30), quotes("P2-USD", 30)
    interleaved = [raw for pair in zip(first, second, strict=True) for raw in pair]

    async def publish() -> None:
        # no linger flush mid-backlog: on a slow machine one cut a batch at 49 frames
        async with RawPublisher("replay", max_frames=50, linger=60.0) as publisher:
            for raw in interleaved:
                await publisher.publish(raw)
            await publisher.publish(b'{"P-broken"')

    asyncio.run(publish())
    messages = published({b"P1-USD", b"P2-USD", None})
    for key, frames in ((b"P1-USD", first), (b"P2-USD", second)):
        mine = [m for m in messages if m.key() == key]
        assert [f for m in mine for f in split_frames(m.value(), m.headers())] == frames
        assert [len(split_frames(m.value(), m.headers())) for m in mine] == [50, 50, 20]
        assert all(("source", b"replay") in m.headers() for m in mine)
        assert mine[0].timestamp()[1] == int((T0 + 0.125) * 1000)  # the first frame's time
    broken = [m.value() for m in messages if m.key() is None]
    assert b'{"P-broken"' in broken  # malformed: alone and unkeyed, for the dead-letter topic


def test_a_live_trickle_goes_out_message_by_message():
    frames = quotes("P3-USD", 1)

    async def publish() -> None:
        async with RawPublisher("coinbase", linger=0.005) as publisher:
            for raw in frames:
                await publisher.publish(raw)
                await asyncio.sleep(0.05)  # the feed is slower than the linger

    asyncio.run(publish())
    messages = published({b"P3-USD"})
    assert [m.value() for m in messages] == frames
    assert all(dict(m.headers()) == {"source": b"coinbase"} for m in messages)


def test_batches_are_bounded_in_bytes_as_well_as_in_frames():
    batcher = Batcher(max_frames=10, max_bytes=100)
    frame = b"x" * 30  # 31 bytes with its separator
    assert batcher.add("A", 1.0, frame) == []
    assert batcher.add("A", 2.0, frame) == []
    assert batcher.add("B", 2.5, frame) == []  # each product batches on its own
    assert batcher.add("A", 3.0, frame) == []  # 93 bytes
    assert batcher.add("A", 4.0, frame) == [("A", 1.0, [frame] * 3)]  # 124 would not fit
    big = b"y" * 500
    assert batcher.add("A", 5.0, big) == [("A", 4.0, [frame]), ("A", 5.0, [big])]  # alone
    assert batcher.drain() == [("B", 2.5, [frame])]
    frames = Batcher(max_frames=2, max_bytes=10**6)
    assert frames.add("A", 1.0, frame) == []
    assert frames.add("A", 2.0, frame) == [("A", 1.0, [frame, frame])]
