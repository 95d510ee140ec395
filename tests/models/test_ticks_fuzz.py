"""Property tests: no input makes the parser or the bar builder fail in an unplanned way.

Every message either becomes well-formed ticks or is rejected with one of the
bounded reason codes the worker puts on `ticks.dlq`; every tick the bar
builder gets is applied, dropped as a duplicate, or dropped as late.
"""

from __future__ import annotations

import math
import time

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.bars import BarBuilder, Outcome
from models.ticks import MAX_MESSAGE_BYTES, MIN_EVENT_TIME, Rejected, Tick, parse
from tests.models.fixtures import ADVANCED_TRADE, EXCHANGE_FEED, fixture_lines

REASONS = {
    "invalid_json", "not_utf8", "too_large", "unknown_channel", "missing_field",
    "invalid_field", "non_finite_price", "non_positive_price", "crossed_quote",
    "invalid_timestamp", "timestamp_out_of_range",
}
VALID = [orjson.loads(line) for path in (ADVANCED_TRADE, EXCHANGE_FEED)
         for line in fixture_lines(path)]
NOW = time.time()

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["NaN", "nan", "inf", "-inf", "Infinity", "1e400", "-1", "0", "0.0", "",
                     " 1", "1,5", "0x10", "100000", "9" * 400]),
)
timestamps = st.one_of(
    st.sampled_from(["1970-01-01T00:00:00Z", "2999-01-01T00:00:00Z", "2026-02-30T00:00:00Z",
                     "2026-04-05T24:00:00Z", "2026-04-05T22:35:13.Z", "2026-04-05 22:35:13Z",
                     "2026-04-05T22:35:13.123456789123Z", "２０２６-04-05T22:35:13Z"]),
    st.floats(min_value=0, max_value=2**33).map(
        lambda ts: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))),
)
values = json_scalars | timestamps | st.lists(json_scalars, max_size=3) | st.dictionaries(
    st.text(max_size=8), json_scalars, max_size=3)


def _paths(obj, prefix=()):
    """Every (path, container) inside a JSON object, to pick a place to mutate."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield prefix + (key,)
            yield from _paths(value, prefix + (key,))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield prefix + (i,)
            yield from _paths(value, prefix + (i,))


@st.composite
def mutated(draw) -> bytes:
    """A real message shape with a few fields deleted or replaced by anything."""
    msg = orjson.loads(orjson.dumps(draw(st.sampled_from(VALID))))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(msg))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = msg
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(values)
    return orjson.dumps(msg)


raw_messages = st.one_of(
    mutated(),
    st.binary(max_size=300),
    st.sampled_from(VALID).map(orjson.dumps).flatmap(
        lambda raw: st.integers(0, len(raw)).map(lambda k: raw[:k])),  # truncated
    st.builds(lambda n: b'{"channel":"ticker","pad":"' + b"x" * n + b'"}',
              st.integers(MAX_MESSAGE_BYTES - 40, MAX_MESSAGE_BYTES + 10)),
    st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["channel", "type", "events", "tickers", "trades", "product_id"]),
        inner, max_size=4), max_leaves=10).map(orjson.dumps),
)


@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw_messages)
def test_every_message_becomes_ticks_or_a_known_rejection(raw):
    try:
        ticks = parse(raw)
    except Rejected as exc:
        assert exc.reason in REASONS
        return
    for tick in ticks:
        assert isinstance(tick, Tick) and isinstance(tick.product, str) and tick.product
        assert MIN_EVENT_TIME <= tick.ts <= NOW + 600
        assert math.isfinite(tick.price) and tick.price > 0
        assert tick.size >= 0 and math.isfinite(tick.size)
        assert tick.bid == tick.ask == 0 or 0 < tick.bid <= tick.ask


@st.composite
def tick_streams(draw) -> list[Tick]:
    """Ticks of one product with duplicates, reordering and jumps far back or ahead."""
    base, out = 1_767_225_600.0, []
    for i in range(draw(st.integers(1, 60))):
        base += draw(st.sampled_from([0.0, 0.1, 0.4, 1.0, 3.0, -0.5, -5.0, 120.0]))
        if out and draw(st.integers(0, 5)) == 0:
            out.append(draw(st.sampled_from(out)))  # the feed repeats a message
            continue
        mid = draw(st.floats(1.0, 1e5))
        out.append(Tick("P", base, mid, mid * 1.0001, mid, draw(st.sampled_from([0.0, 0.5])),
                        draw(st.booleans()), f"id{i}", i))
    return out


@settings(max_examples=2_000, deadline=None)
@given(tick_streams())
def test_duplicate_and_out_of_order_ticks_follow_the_policy(ticks):
    builder, seen, closed_starts = BarBuilder("P"), set(), []
    for tick in ticks:
        before = builder.closed_through
        outcome, closed = builder.feed(tick)
        if tick.tick_id in seen:
            assert outcome is Outcome.DUPLICATE or outcome is Outcome.LATE
        elif int(tick.ts) <= before:
            assert outcome is Outcome.LATE  # its second was closed already
        else:
            assert outcome is Outcome.APPLIED
            seen.add(tick.tick_id)
        closed_starts += [bar.start for bar in closed]
    # bars close once each, in event-time order, and only with what was applied
    assert closed_starts == sorted(set(closed_starts))
    assert all(bar.ticks > 0 for bar in builder.open.values())
