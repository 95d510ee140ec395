"""models.ticks: Coinbase messages → typed ticks, rejections, timestamps and routing."""

from __future__ import annotations

import calendar
import re
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from models.ticks import MAX_MESSAGE_BYTES, Rejected, Tick, message_key, parse, parse_time, route
from tests.models.fixtures import ADVANCED_TRADE, EXCHANGE_FEED, fixture_lines

AT = fixture_lines(ADVANCED_TRADE)
EX = fixture_lines(EXCHANGE_FEED)

T1400 = calendar.timegm((2025, 11, 20, 14, 0, 0))  # both fixtures are recorded in this hour


def at_(minute: int, second: int, frac: float) -> float:
    return T1400 + minute * 60 + second + frac


def assert_ticks(actual: list[Tick], expected: list[tuple]) -> None:
    """Compare ticks field by field; `ts` to well under a microsecond."""
    assert len(actual) == len(expected), actual
    for got, want in zip(actual, expected, strict=True):
        product, ts, bid, ask, price, size, buy, tick_id, seq = want
        assert got.product == product
        assert got.ts == pytest.approx(ts, abs=5e-7)
        assert (got.bid, got.ask, got.price, got.size) == (bid, ask, price, size)
        assert got.buy is buy
        assert got.tick_id == tick_id
        assert got.seq == seq


def msg(raw: bytes) -> dict:
    return orjson.loads(raw)


def dumps(obj: object) -> bytes:
    return orjson.dumps(obj)


# --------------------------------------------------------------------------- fixtures as written


def test_fixture_files_are_small_and_cover_every_message_type():
    at_kinds = Counter(msg(raw)["channel"] for raw in AT)
    ex_kinds = Counter(msg(raw)["type"] for raw in EX)
    assert set(at_kinds) == {"subscriptions", "ticker", "market_trades", "heartbeats"}
    assert set(ex_kinds) == {"subscriptions", "heartbeat", "ticker", "match"}
    assert 10 <= len(AT) <= 20 and 10 <= len(EX) <= 20
    events = [e.get("type") for raw in AT for e in msg(raw)["events"]]
    assert {"snapshot", "update"} <= set(events)
    sides = {t["side"] for raw in AT for e in msg(raw)["events"] for t in e.get("trades", [])}
    assert sides == {"BUY", "SELL"}


@pytest.mark.parametrize("index", [0, 4, 7], ids=["subscriptions", "heartbeats", "heartbeats2"])
def test_advanced_trade_control_messages_give_no_ticks(index):
    assert parse(AT[index]) == []
    assert message_key(AT[index]) is None


def test_advanced_trade_ticker_snapshot():
    assert_ticks(parse(AT[1]), [
        ("BTC-USD", at_(5, 0, 0.418822731), 91842.56, 91842.57, 91842.57, 0.0, False,
         "q2025-11-20T14:05:00.418822731Z/1", 1),
    ])
    assert_ticks(parse(AT[2]), [
        ("ETH-USD", at_(5, 0, 0.418861094), 3027.4, 3027.41, 3027.41, 0.0, False,
         "q2025-11-20T14:05:00.418861094Z/2", 2),
    ])


def test_advanced_trade_ticker_update():
    assert_ticks(parse(AT[5]), [
        ("BTC-USD", at_(5, 1, 0.205331870), 91845.12, 91845.13, 91845.13, 0.0, False,
         "q2025-11-20T14:05:01.205331870Z/5", 5),
    ])
    # a wide quote is kept as it is
    assert_ticks(parse(AT[11]), [
        ("BTC-USD", at_(5, 4, 0.013009856), 91836.02, 91838.4, 91838.4, 0.0, False,
         "q2025-11-20T14:05:04.013009856Z/11", 11),
    ])


def test_advanced_trade_ticker_with_several_tickers():
    ts = at_(5, 2, 0.107518843)
    tick_id = "q2025-11-20T14:05:02.107518843Z/8"
    assert_ticks(parse(AT[8]), [
        ("BTC-USD", ts, 91843.89, 91843.9, 91843.9, 0.0, False, tick_id, 8),
        ("ETH-USD", ts, 3027.37, 3027.38, 3027.38, 0.0, False, tick_id, 8),
    ])


def test_advanced_trade_market_trades_snapshot_uses_each_trades_own_time():
    assert_ticks(parse(AT[3]), [
        ("BTC-USD", at_(4, 59, 0.981203), 0.0, 0.0, 91842.57, 0.00412, True, "t913245679", 3),
        ("BTC-USD", at_(4, 59, 0.736514), 0.0, 0.0, 91842.56, 0.0153, False, "t913245678", 3),
    ])


def test_advanced_trade_market_trades_update_buy_and_sell():
    assert_ticks(parse(AT[6]), [
        ("BTC-USD", at_(5, 1, 0.391826), 0.0, 0.0, 91845.13, 0.0215, True, "t913245680", 6),
        ("ETH-USD", at_(5, 1, 0.392104), 0.0, 0.0, 3027.38, 1.2, False, "t641208774", 6),
    ])
    assert_ticks(parse(AT[10]), [
        ("BTC-USD", at_(5, 4, 0.006731), 0.0, 0.0, 91838.4, 0.10031, False, "t913245681", 10),
    ])


def test_advanced_trade_lowercase_side_and_integer_trade_id():
    m = msg(AT[10])
    m["events"][0]["trades"][0].update(side="buy", trade_id=913245681)
    (t,) = parse(dumps(m))
    assert t.buy is True and t.tick_id == "t913245681"


@pytest.mark.parametrize("index", [0, 1, 2, 11], ids=["subscriptions", "hb-btc", "hb-eth", "hb2"])
def test_exchange_control_messages_give_no_ticks(index):
    assert parse(EX[index]) == []
    assert message_key(EX[index]) is None


def test_exchange_ticker_side_is_the_taker_side():
    # ticker "side" is the taker's side: "buy" printed at the ask, "sell" at the bid
    assert_ticks(parse(EX[4]), [
        ("BTC-USD", at_(10, 0, 0.214337), 91870.0, 91870.01, 91870.01, 0.00731, True,
         "t913245691", 119233302117),
    ])
    assert_ticks(parse(EX[5]), [
        ("ETH-USD", at_(10, 0, 0.587104), 3028.14, 3028.15, 3028.14, 0.25, False,
         "t641208791", 88104530418),
    ])
    assert_ticks(parse(EX[7]), [
        ("BTC-USD", at_(10, 1, 0.309448), 91869.5, 91869.51, 91869.5, 0.024, False,
         "t913245692", 119233302406),
    ])
    assert_ticks(parse(EX[8]), [
        ("BTC-USD", at_(10, 2, 0.448190), 91871.19, 91871.2, 91871.2, 0.0125, True,
         "t913245693", 119233302699),
    ])


def test_exchange_match_side_is_the_makers_side():
    # match "side" is the maker's side: a "sell" maker was lifted by a buyer
    assert_ticks(parse(EX[3]), [
        ("BTC-USD", at_(10, 0, 0.214337), 0.0, 0.0, 91870.01, 0.00731, True,
         "t913245691", 119233302117),
    ])
    assert_ticks(parse(EX[6]), [
        ("ETH-USD", at_(10, 0, 0.587104), 0.0, 0.0, 3028.14, 0.25, False,
         "t641208791", 88104530418),
    ])
    assert_ticks(parse(EX[9]), [
        ("BTC-USD", at_(10, 3, 0.021774), 0.0, 0.0, 91868.33, 0.05, False,
         "t913245694", 119233302855),
    ])


@pytest.mark.parametrize(("match_index", "ticker_index"), [(3, 4), (6, 5)])
def test_exchange_match_and_ticker_of_one_trade_agree(match_index, ticker_index):
    """The same trade seen on `matches` and on `ticker`: same id, time, size and aggressor."""
    (m,), (t,) = parse(EX[match_index]), parse(EX[ticker_index])
    assert msg(EX[match_index])["trade_id"] == msg(EX[ticker_index])["trade_id"]
    assert msg(EX[match_index])["side"] != msg(EX[ticker_index])["side"]
    assert m._replace(bid=0.0, ask=0.0) == t._replace(bid=0.0, ask=0.0)


def test_exchange_last_match_is_a_trade():
    m = msg(EX[9])
    m["type"] = "last_match"
    (t,) = parse(dumps(m))
    assert (t.price, t.size, t.buy, t.tick_id) == (91868.33, 0.05, False, "t913245694")


def test_exchange_ticker_without_a_trade_is_a_quote_keyed_by_sequence():
    m = msg(EX[4])
    for field in ("side", "trade_id", "last_size"):
        del m[field]
    (t,) = parse(dumps(m))
    assert (t.bid, t.ask, t.price, t.size, t.buy) == (91870.0, 91870.01, 91870.01, 0.0, False)
    assert t.tick_id == "s119233302117" and t.seq == 119233302117


def test_numbers_may_be_json_numbers_and_sequence_may_be_absent():
    m = msg(EX[4])
    m.update(price=91870.01, best_bid=91870, best_ask=91870.01, last_size=0.00731)
    del m["sequence"]
    (t,) = parse(dumps(m))
    assert (t.bid, t.ask, t.price, t.size, t.seq) == (91870.0, 91870.01, 91870.01, 0.00731, None)


def test_locked_quote_is_accepted():
    m = msg(AT[5])
    m["events"][0]["tickers"][0]["best_bid"] = "91845.13"
    (t,) = parse(dumps(m))
    assert t.bid == t.ask == 91845.13


def test_message_key_is_the_first_ticks_product():
    assert message_key(AT[2]) == "ETH-USD"
    assert message_key(EX[5]) == "ETH-USD"


# --------------------------------------------------------------------------- rejections


_DELETE = object()


def _edit(raw: bytes, path: tuple, fields: dict) -> bytes:
    """`raw` with fields of the object at `path` replaced (or deleted with _DELETE)."""
    m = msg(raw)
    obj = m
    for key in path:
        obj = obj[key]
    for name, value in fields.items():
        if value is _DELETE:
            del obj[name]
        else:
            obj[name] = value
    return dumps(m)


def _at(index: int, path: tuple = (), **fields) -> bytes:
    """An Advanced Trade fixture line, edited."""
    return _edit(AT[index], path, fields)


def _ex(index: int, **fields) -> bytes:
    """An Exchange feed fixture line, edited."""
    return _edit(EX[index], (), fields)


TICKER = ("events", 0, "tickers", 0)
TRADE = ("events", 0, "trades", 0)

REJECTIONS = [
    # reason, raw
    ("invalid_json", b'{"channel":"ticker",'),
    ("invalid_json", b""),
    ("invalid_json", b"[1, 2, 3]"),
    ("invalid_json", b'"ticker"'),
    ("not_utf8", b'{"channel":"ticker","timestamp":"\xff\xfe"}'),
    ("too_large", b'{"channel":"ticker","pad":"' + b"a" * MAX_MESSAGE_BYTES + b'"}'),
    ("unknown_channel", _at(1, channel="level2")),
    ("unknown_channel", _at(1, channel=None)),
    ("unknown_channel", _ex(4, type="l2update")),
    ("unknown_channel", b'{"product_id":"BTC-USD","price":"1"}'),
    ("missing_field", _at(1, TICKER, best_bid=_DELETE)),
    ("missing_field", _at(1, TICKER, best_ask="")),
    ("missing_field", _at(1, TICKER, price=_DELETE)),
    ("missing_field", _at(1, TICKER, product_id=_DELETE)),
    ("missing_field", _at(1, events=_DELETE)),
    ("missing_field", _at(1, events=[])),
    ("missing_field", _at(1, ("events", 0), tickers=_DELETE)),
    ("missing_field", _at(6, ("events", 0), trades=_DELETE)),
    ("missing_field", _at(6, TRADE, trade_id=_DELETE)),
    ("missing_field", _at(6, TRADE, size=_DELETE)),
    ("missing_field", _ex(3, size=_DELETE)),
    ("missing_field", _ex(4, product_id=_DELETE)),
    ("missing_field", _ex(4, best_ask=_DELETE)),
    ("invalid_field", _at(1, TICKER, price="91842.5x")),
    ("invalid_field", _at(1, TICKER, best_bid=True)),
    ("invalid_field", _at(1, TICKER, best_ask={"value": "1"})),
    ("invalid_field", _at(1, TICKER, product_id=42)),
    ("invalid_field", _at(1, TICKER, product_id="")),
    ("invalid_field", _at(1, TICKER, product_id="X" * 33)),
    ("invalid_field", _at(1, sequence_num=-1)),
    ("invalid_field", _at(1, sequence_num="1")),
    ("invalid_field", _at(1, events=[1])),
    ("invalid_field", _at(1, ("events", 0), tickers=["BTC-USD"])),
    ("invalid_field", _at(6, TRADE, side="HOLD")),
    ("invalid_field", _ex(4, sequence=True)),
    ("invalid_field", _ex(4, side=_DELETE)),
    ("invalid_field", _ex(4, trade_id=_DELETE)),
    ("invalid_field", _ex(4, trade_id="913245691")),
    ("invalid_field", _ex(3, trade_id=True)),
    ("non_finite_price", _at(1, TICKER, price="NaN")),
    ("non_finite_price", _at(1, TICKER, best_ask="Infinity")),
    ("non_finite_price", _at(6, TRADE, size="1e999")),
    ("non_finite_price", _ex(4, best_bid="-inf")),
    ("non_positive_price", _at(1, TICKER, best_bid="0")),
    ("non_positive_price", _at(6, TRADE, price="-91845.13")),
    ("non_positive_price", _ex(3, size="0")),
    ("non_positive_price", _ex(4, price=0)),
    ("crossed_quote", _at(1, TICKER, best_bid="91842.58")),
    ("crossed_quote", _ex(4, best_bid="91871", best_ask="91870.01")),
    ("invalid_timestamp", _at(1, timestamp=_DELETE)),
    ("invalid_timestamp", _at(1, timestamp="2025-11-20 14:05:00.418822731Z")),
    ("invalid_timestamp", _at(6, TRADE, time="yesterday")),
    ("invalid_timestamp", _ex(4, time=1763647800.214337)),
    ("timestamp_out_of_range", _at(1, timestamp="2014-12-31T23:59:59.999999Z")),
    ("timestamp_out_of_range", _at(6, TRADE, time="2099-01-01T00:00:00Z")),
    ("timestamp_out_of_range", _ex(4, time="1970-01-01T00:00:00.000000Z")),
]


@pytest.mark.parametrize(("reason", "raw"), REJECTIONS,
                         ids=[f"{r}-{i}" for i, (r, _) in enumerate(REJECTIONS)])
def test_rejections_carry_a_bounded_reason(reason, raw):
    with pytest.raises(Rejected) as info:
        parse(raw)
    assert info.value.reason == reason
    assert isinstance(info.value, ValueError)
    assert len(str(info.value)) < 200


def test_every_rejection_reason_is_covered():
    assert {r for r, _ in REJECTIONS} == {
        "invalid_json", "not_utf8", "too_large", "unknown_channel", "missing_field",
        "invalid_field", "non_finite_price", "non_positive_price", "crossed_quote",
        "invalid_timestamp", "timestamp_out_of_range",
    }


def test_rejection_detail_is_bounded_for_huge_fields():
    with pytest.raises(Rejected) as info:
        parse(_at(1, TICKER, price="9" * 5000 + "x"))
    assert info.value.reason == "invalid_field"
    assert len(info.value.detail) <= 80


def test_message_at_the_size_limit_is_parsed():
    m = msg(AT[5])
    m["pad"] = ""
    base = len(dumps(m))
    m["pad"] = "a" * (MAX_MESSAGE_BYTES - base)
    raw = dumps(m)
    assert len(raw) == MAX_MESSAGE_BYTES
    assert len(parse(raw)) == 1


def test_a_bad_ticker_rejects_the_whole_message():
    m = msg(AT[8])
    m["events"][0]["tickers"][1]["best_bid"] = "NaN"
    with pytest.raises(Rejected, match="non_finite_price"):
        parse(dumps(m))


# --------------------------------------------------------------------------- parse_time


@pytest.mark.parametrize(
    ("text", "fields", "frac"),
    [
        ("2026-04-05T22:35:13.92532762Z", (2026, 4, 5, 22, 35, 13), 0.92532762),
        ("2026-04-05T22:35:13.925350911Z", (2026, 4, 5, 22, 35, 13), 0.925350911),
        ("2025-12-06T01:12:47.761914Z", (2025, 12, 6, 1, 12, 47), 0.761914),
        ("2025-11-12T07:20:11.6Z", (2025, 11, 12, 7, 20, 11), 0.6),
        ("2025-11-12T07:20:11.000000001Z", (2025, 11, 12, 7, 20, 11), 1e-9),
        ("2025-11-12T07:20:11Z", (2025, 11, 12, 7, 20, 11), 0.0),
        ("2024-02-29T23:59:59.999999999Z", (2024, 2, 29, 23, 59, 59), 0.999999999),
        ("2025-12-31T23:59:60Z", (2025, 12, 31, 23, 59, 59), 1.0),  # leap second
    ],
)
def test_parse_time_accepts_nanosecond_fractions(text, fields, frac):
    expected = calendar.timegm(fields) + frac
    assert parse_time(text) == pytest.approx(expected, abs=5e-7)
    assert parse_time(text) == parse_time(text)  # cached hour gives the same answer


def test_parse_time_agrees_with_datetime_on_microseconds():
    for text in ("2025-01-01T00:00:00.000001Z", "2025-06-30T12:34:56.789012Z",
                 "2026-03-01T00:00:00.5Z"):
        dt = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert parse_time(text) == pytest.approx(dt.timestamp(), abs=5e-7)


def test_parse_time_keeps_sub_second_order_within_the_hour():
    base = "2025-11-20T14:"
    values = [parse_time(base + s) for s in (
        "00:00Z", "00:00.000001Z", "00:00.5Z", "00:59.999999Z", "01:00Z", "59:59.999999999Z",
    )]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert values[-1] - values[0] == pytest.approx(3599.999999999, abs=1e-6)


MALFORMED_TIMES = [
    None, 1763647500, 1763647500.5, "", "Z",
    "2025-11-20T14:05:00",  # no zone
    "2025-11-20T14:05:00+00:00",
    "2025-11-20T14:05:00.Z",  # empty fraction
    "2025-11-20T14:05:00,5Z",
    "2025-11-20T14:05:00.5e3Z",
    "2025-11-20T14:05:00.-5Z",
    "2025-11-20T14:05:0xZ",
    "2025-11-20 14:05:00Z",
    "2025/11/20T14:05:00Z",
    "2025-11-20T14-05-00Z",
    "20251120T140500.000Z",
    "2025-11-20T14:60:00Z",
    "2025-11-20T14:05:61Z",
    "2025-11-20T14:-5:00Z",
    "2025-13-20T14:05:00Z",
    "2025-00-20T14:05:00Z",
    # impossible calendar dates and hours must not silently become another time
    "2025-11-31T14:05:00Z",
    "2025-02-29T14:05:00Z",
    "2025-11-00T14:05:00Z",
    "2025-11-20T24:00:00Z",
    "2025-11-20T25:05:00Z",
    # signs, spaces and non-ASCII digits are not ISO-8601 digits
    "2025-11-20T14:+5:00Z",
    "2025-11-20T14:05: 7Z",
    "2025-11-20T14:05:0\u0667Z",
    "+025-11-20T14:05:00Z",
]


@pytest.mark.parametrize("value", MALFORMED_TIMES, ids=[repr(v) for v in MALFORMED_TIMES])
def test_parse_time_rejects_malformed_values(value):
    with pytest.raises(Rejected) as info:
        parse_time(value)
    assert info.value.reason == "invalid_timestamp"


def test_parse_time_rejects_malformed_after_a_valid_time_of_the_same_hour():
    parse_time("2025-11-20T14:05:00Z")  # the hour is now cached
    for bad in ("2025-11-20T14:05:0xZ", "2025-11-20T14:99:00Z", "2025-11-20T14:05:00.Z"):
        with pytest.raises(Rejected, match="invalid_timestamp"):
            parse_time(bad)


def test_parse_time_range():
    with pytest.raises(Rejected, match="timestamp_out_of_range"):
        parse_time("2014-12-31T23:59:59.999999Z")
    assert parse_time("2015-01-01T00:00:00Z") == 1_420_070_400.0
    soon = datetime.fromtimestamp(time.time() + 120, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert parse_time(soon) > time.time()
    later = datetime.fromtimestamp(time.time() + 3600, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with pytest.raises(Rejected, match="timestamp_out_of_range"):
        parse_time(later)


# --------------------------------------------------------------------------- route


@pytest.mark.parametrize("raw", [AT[0], AT[4], AT[7], EX[0], EX[1], EX[2], EX[11]])
def test_route_drops_control_messages(raw):
    assert route(raw) == []


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", _at(1, TICKER, best_bid="91842.58"),
                                 _ex(4, type="l2update")])
def test_route_passes_malformed_messages_through_without_a_key(raw):
    assert route(raw) == [(None, None, raw)]


@pytest.mark.parametrize("raw", [AT[1], AT[3], AT[5], EX[3], EX[4]])
def test_route_keeps_single_product_messages_intact(raw):
    ticks = parse(raw)
    ((key, ts, out),) = route(raw)
    assert out is raw
    assert key == ticks[0].product
    assert ts == ticks[0].ts


@pytest.mark.parametrize("index", [6, 8], ids=["market_trades", "ticker"])
def test_route_splits_a_multi_product_message(index):
    raw = AT[index]
    ticks = parse(raw)
    parts = route(raw)
    assert [key for key, _, _ in parts] == ["BTC-USD", "ETH-USD"]
    original = msg(raw)
    for key, ts, part in parts:
        own = [t for t in ticks if t.product == key]
        assert parse(part) == own  # same ticks, same ids, nothing of the other product
        assert ts == min(t.ts for t in own)
        assert route(part) == [(key, ts, part)]  # already single-product: published as is
        m = msg(part)
        for field in ("channel", "client_id", "timestamp", "sequence_num"):
            assert m[field] == original[field]


def test_route_split_drops_events_left_empty():
    m = msg(AT[8])
    btc, eth = m["events"][0]["tickers"]
    m["events"] = [
        {"type": "update", "tickers": [btc]},
        {"type": "update", "tickers": [eth]},
        {"type": "update", "tickers": [dict(btc, best_bid="91843.8", best_ask="91843.81")]},
    ]
    parts = dict((key, part) for key, _, part in route(dumps(m)))
    assert len(msg(parts["BTC-USD"])["events"]) == 2
    assert len(msg(parts["ETH-USD"])["events"]) == 1
    assert [t.bid for t in parse(parts["BTC-USD"])] == [91843.89, 91843.8]
    assert [t.product for t in parse(parts["ETH-USD"])] == ["ETH-USD"]


# --------------------------------------------------------------------------- real recordings

#: From the recordings' README: message counts per file or group of files.
README_COUNTS = {
    r"btc-usd_2026-04-05T2235Z_20min": 5971,
    r"btc-eth-usd_2026-04-04T0319Z_11min": 2500,
    r"btc-usd_2025-12-01T0501Z_22min": 6738,
    r"btc-usd_2025-12-05T20(33|43)Z": 8174,
    r"btc-usd_2025-12-06T0\d{3}Z": 28381,
    r"btc-usd_2025-11-12to14_trades_4segments": 6000,
}


def _read_real(folder: Path) -> dict[str, dict]:
    files = sorted(folder.glob("*.ndjson"))
    assert files, f"no recordings in {folder}"
    out = {}
    for path in files:
        stats = {"messages": 0, "control": 0, "ticks": [], "rejected": Counter()}
        with open(path, "rb") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                stats["messages"] += 1
                try:
                    ticks = parse(line)
                except Rejected as exc:  # collected, so one failure reports them all
                    stats["rejected"][exc.reason] += 1
                    continue
                if not ticks:
                    stats["control"] += 1
                stats["ticks"].extend(ticks)
        out[path.name] = stats
    return out


@pytest.fixture(scope="module")
def real_advanced_trade(coinbase_data):
    return _read_real(coinbase_data / "advanced-trade")


@pytest.fixture(scope="module")
def real_exchange_feed(coinbase_data):
    return _read_real(coinbase_data / "exchange-feed")


def _check_common(files: dict[str, dict]) -> None:
    for name, s in files.items():
        assert not s["rejected"], f"{name}: rejected {dict(s['rejected'])}"
        ticks = s["ticks"]
        assert len(ticks) > 0, name
        # every line of these feeds is one tick or a control message
        assert len(ticks) == s["messages"] - s["control"], name
        expected_products = {"BTC-USD", "ETH-USD"} if name.startswith("btc-eth") else {"BTC-USD"}
        assert {t.product for t in ticks} == expected_products, name
        ids = Counter((t.product, t.tick_id) for t in ticks)
        assert ids.most_common(1)[0][1] == 1, f"{name}: tick ids repeat"
        # the recording starts at the date (and minute) its name says
        stamp = re.search(r"_(\d{4}-\d{2}-\d{2})(?:T(\d{2})(\d{2})Z)?", name)
        first = datetime.fromtimestamp(min(t.ts for t in ticks), UTC)
        assert first.strftime("%Y-%m-%d") == stamp.group(1), name
        if stamp.group(2):
            assert (first.hour, first.minute) == (int(stamp.group(2)), int(stamp.group(3))), name
        for t in ticks:
            assert t.price > 0.0 and t.ts > 1.7e9
            if t.bid:
                assert 0.0 < t.bid <= t.ask < t.bid * 1.01, (name, t)
    for pattern, count in README_COUNTS.items():
        matched = [s["messages"] for n, s in files.items() if re.match(pattern, n)]
        if matched:
            assert sum(matched) == count, pattern


def test_real_advanced_trade_recordings_parse(real_advanced_trade):
    files = real_advanced_trade
    assert len(files) == 17
    _check_common(files)
    for name, s in files.items():
        assert all(t.size == 0.0 and t.bid > 0.0 for t in s["ticks"]), name  # ticker only
        seqs = [t.seq for t in s["ticks"]]
        assert seqs == sorted(seqs), name
    # one subscriptions message, and it is skipped, not rejected
    assert files["btc-usd_2026-04-05T2235Z_20min.ndjson"]["control"] == 1
    assert sum(s["control"] for s in files.values()) == 1


def test_real_exchange_feed_recording_parses(real_exchange_feed):
    files = real_exchange_feed
    _check_common(files)
    (s,) = files.values()
    assert s["control"] == 4  # a subscriptions message at each of the 4 reconnects
    ticks = s["ticks"]
    assert all(t.size > 0.0 and t.tick_id.startswith("t") for t in ticks)
    trade_ids = [int(t.tick_id[1:]) for t in ticks]
    jumps = sum(1 for a, b in zip(trade_ids, trade_ids[1:], strict=False) if b != a + 1)
    assert jumps == 3  # contiguous inside each of the four segments
    assert 0.3 < sum(t.buy for t in ticks) / len(ticks) < 0.7


def test_real_exchange_feed_buy_flag_marks_the_aggressor(real_exchange_feed):
    """A trade printed at the ask was bought by its taker; one printed at the bid was sold."""
    (s,) = real_exchange_feed.values()
    at_ask = [t.buy for t in s["ticks"] if t.price == t.ask and t.bid < t.ask]
    at_bid = [t.buy for t in s["ticks"] if t.price == t.bid and t.bid < t.ask]
    assert len(at_ask) > 500 and len(at_bid) > 500
    assert sum(at_ask) / len(at_ask) > 0.99
    assert sum(at_bid) / len(at_bid) < 0.01
