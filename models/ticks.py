"""Coinbase WebSocket messages → typed ticks.

One parser serves the live worker, replay and offline training, so a message
means the same thing everywhere. Malformed input raises `Rejected` with a
short, bounded reason code (used as a metric label and in the dead-letter
record) and a human-readable detail.
"""

from __future__ import annotations

import calendar
import math
import time
from typing import NamedTuple

import orjson

MAX_MESSAGE_BYTES = 1_000_000
#: Event times before this (2015-01-01) are certainly not Coinbase ticks.
MIN_EVENT_TIME = 1_420_070_400.0
#: How far ahead of the wall clock an event time may be before it is rejected.
MAX_FUTURE_SECONDS = 300.0

CONTROL_CHANNELS = frozenset({"subscriptions", "heartbeats", "status"})
CONTROL_TYPES = frozenset({"subscriptions", "heartbeat", "status", "error"})


class Tick(NamedTuple):
    """One observation of a product: a quote, a trade, or both.

    `bid`/`ask` are 0.0 when the message carries no quote, `size` is 0.0 when
    it carries no trade. `tick_id` identifies the observation for
    de-duplication; `seq` is the feed sequence number (None when absent).
    """

    product: str
    ts: float
    bid: float
    ask: float
    price: float
    size: float
    buy: bool
    tick_id: str
    seq: int | None


class Rejected(ValueError):
    """A message that cannot become ticks; `reason` is a bounded code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


#: "YYYY-MM-DDTHH:MM:SS" → epoch seconds, for the seconds seen lately: ticks of one
#: second share it, so a tick's time costs a dict lookup and its fraction
_second_cache: dict[str, int] = {}


def parse_time(value: object) -> float:
    """ISO-8601 UTC (`2026-04-05T22:35:13.92532762Z`) → epoch seconds.

    Hand-rolled because it runs once per tick and `datetime` does not accept
    nanosecond fractions; the whole-second prefix is validated once and cached.
    """
    if value.__class__ is not str or len(value) < 20 or value[-1] != "Z" or not value.isascii():
        raise Rejected("invalid_timestamp", repr(value)[:80])
    base = _second_cache.get(value[:19])
    try:
        if base is None:
            base = _whole_second(value)
        frac = 0.0
        if len(value) > 20:
            digits = value[20:-1]
            if value[19] != "." or not digits.isdigit():
                raise ValueError(value)
            frac = int(digits) / 10 ** len(digits)
    except (ValueError, IndexError):
        raise Rejected("invalid_timestamp", value[:80]) from None
    ts = base + frac
    if ts < MIN_EVENT_TIME or ts > time.time() + MAX_FUTURE_SECONDS:
        raise Rejected("timestamp_out_of_range", value[:80])
    return ts


def _whole_second(value: str) -> int:
    """Epoch seconds of `value`'s first 19 characters, validated; cached."""
    if (value[4] != "-" or value[7] != "-" or value[10] != "T" or value[13] != ":"
            or value[16] != ":"):
        raise ValueError(value)
    fields = (value[0:4], value[5:7], value[8:10], value[11:13], value[14:16], value[17:19])
    if not "".join(fields).isdigit():
        raise ValueError(value)
    year, month, day, hour, minute, second = map(int, fields)
    # timegm does not validate: 2025-11-31 or hour 25 would silently roll over
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]
            and hour < 24 and minute < 60 and second < 61):
        raise ValueError(value)
    base = calendar.timegm((year, month, day, hour, minute, second))
    if len(_second_cache) > 10_000:
        _second_cache.clear()
    _second_cache[value[:19]] = base
    return base


def _price(obj: dict, field: str, *, required: bool = True) -> float:
    raw = obj.get(field)
    if raw.__class__ is str:  # the feed's way: a decimal string
        try:
            value = float(raw)
        except ValueError:
            pass
        else:
            if 0.0 < value < math.inf:
                return value
    return _checked_price(raw, field, required)


def _checked_price(raw: object, field: str, required: bool) -> float:
    """`_price` for anything but a plain positive decimal: the value, or why not."""
    if raw is None or raw == "":
        if required:
            raise Rejected("missing_field", field)
        return 0.0
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise Rejected("invalid_field", f"{field}={raw!r}"[:80])
    try:
        value = float(raw)
    except ValueError:
        raise Rejected("invalid_field", f"{field}={raw!r}"[:80]) from None
    if not math.isfinite(value):
        raise Rejected("non_finite_price", f"{field}={raw!r}"[:80])
    if value <= 0.0:
        raise Rejected("non_positive_price", f"{field}={raw!r}"[:80])
    return value


def _product(obj: dict) -> str:
    product = obj.get("product_id")
    if not isinstance(product, str) or not product or len(product) > 32:
        raise Rejected("missing_field" if product is None else "invalid_field", "product_id")
    return product


def _quote(obj: dict, bid_field: str, ask_field: str) -> tuple[float, float]:
    bid = _price(obj, bid_field)
    ask = _price(obj, ask_field)
    if bid > ask:
        raise Rejected("crossed_quote", f"bid {bid} > ask {ask}")
    return bid, ask


def _seq(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Rejected("invalid_field", f"sequence={value!r}"[:80])
    return value


def _advanced_trade(msg: dict) -> list[Tick]:
    channel = msg.get("channel")
    if not isinstance(channel, str):
        raise Rejected("unknown_channel", repr(channel)[:80])
    if channel in CONTROL_CHANNELS:
        return []
    if channel not in ("ticker", "ticker_batch", "market_trades"):
        raise Rejected("unknown_channel", repr(channel)[:80])
    ts = parse_time(msg.get("timestamp"))
    seq = _seq(msg.get("sequence_num"))
    events = msg.get("events")
    if not isinstance(events, list) or not events:
        raise Rejected("missing_field", "events")
    ticks: list[Tick] = []
    for event in events:
        if not isinstance(event, dict):
            raise Rejected("invalid_field", "events[]")
        if channel == "market_trades":
            trades = event.get("trades")
            if not isinstance(trades, list):
                raise Rejected("missing_field", "events[].trades")
            for trade in trades:
                if not isinstance(trade, dict):
                    raise Rejected("invalid_field", "trades[]")
                trade_id = trade.get("trade_id")
                if not isinstance(trade_id, str | int) or isinstance(trade_id, bool):
                    raise Rejected("missing_field", "trade_id")
                side = trade.get("side")
                if side not in ("BUY", "SELL", "buy", "sell"):
                    raise Rejected("invalid_field", f"side={side!r}"[:80])
                ticks.append(
                    Tick(
                        _product(trade),
                        parse_time(trade.get("time")),
                        0.0,
                        0.0,
                        _price(trade, "price"),
                        _price(trade, "size"),
                        side in ("BUY", "buy"),
                        f"t{trade_id}",
                        seq,
                    )
                )
        else:
            tickers = event.get("tickers")
            if not isinstance(tickers, list):
                raise Rejected("missing_field", "events[].tickers")
            for ticker in tickers:
                if not isinstance(ticker, dict):
                    raise Rejected("invalid_field", "tickers[]")
                bid, ask = _quote(ticker, "best_bid", "best_ask")
                ticks.append(
                    Tick(
                        _product(ticker),
                        ts,
                        bid,
                        ask,
                        _price(ticker, "price"),
                        0.0,
                        False,
                        f"q{msg.get('timestamp')}/{seq}",
                        seq,
                    )
                )
    return ticks


def _exchange(msg: dict) -> list[Tick]:
    kind = msg.get("type")
    if not isinstance(kind, str):
        raise Rejected("unknown_channel", repr(kind)[:80])
    if kind in CONTROL_TYPES:
        return []
    if kind not in ("ticker", "match", "last_match"):
        raise Rejected("unknown_channel", repr(kind)[:80])
    product = _product(msg)
    ts = parse_time(msg.get("time"))
    seq = _seq(msg.get("sequence"))
    trade_id = msg.get("trade_id")
    side = msg.get("side")
    if kind == "ticker":
        bid, ask = _quote(msg, "best_bid", "best_ask")
        size = _price(msg, "last_size", required=False)
    else:
        bid = ask = 0.0
        size = _price(msg, "size")
    if size and (side not in ("buy", "sell") or trade_id is None):
        raise Rejected("invalid_field", f"side={side!r} trade_id={trade_id!r}"[:80])
    if trade_id is not None and (not isinstance(trade_id, int) or isinstance(trade_id, bool)):
        raise Rejected("invalid_field", f"trade_id={trade_id!r}"[:80])
    # `side` is the taker's side on `ticker` (a "buy" prints at the ask) but the maker's
    # side on `match`/`last_match` (a "sell" maker means a buyer took it).
    buy = side == "buy" if kind == "ticker" else side == "sell"
    tick_id = f"t{trade_id}" if trade_id is not None else f"s{seq}"
    return [Tick(product, ts, bid, ask, _price(msg, "price"), size, buy, tick_id, seq)]


def parse(raw: bytes) -> list[Tick]:
    """Parse one raw WebSocket message; control messages give no ticks."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise Rejected("too_large", f"{len(raw)} bytes")
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Rejected("not_utf8", str(exc)[:120]) from None
        raise Rejected("invalid_json", str(exc)[:120]) from None
    if not isinstance(msg, dict):
        raise Rejected("invalid_json", "not an object")
    if "channel" in msg:
        return _advanced_trade(msg)
    if "type" in msg:
        return _exchange(msg)
    raise Rejected("unknown_channel", "neither `channel` nor `type`")


def message_key(raw: bytes) -> str | None:
    """The product a raw message is about (its Kafka key), or None for control messages."""
    ticks = parse(raw)
    return ticks[0].product if ticks else None


def route(raw: bytes) -> list[tuple[str | None, float | None, bytes]]:
    """How a source should publish one raw message: [(key, event time, bytes)].

    Control messages give nothing; a malformed message is published as it is
    with no key, so the worker dead-letters it with its reason. A message
    about several products (rare) is split into one message per product, so
    each lands on its product's partition.
    """
    try:
        ticks = parse(raw)
    except Rejected:
        return [(None, None, raw)]
    if not ticks:
        return []
    products = {t.product for t in ticks}
    if len(products) == 1:
        return [(ticks[0].product, ticks[0].ts, raw)]
    msg = orjson.loads(raw)
    out = []
    for product in sorted(products):
        part = dict(msg)
        part["events"] = [_only(event, product) for event in msg["events"]]
        part["events"] = [e for e in part["events"] if e.get("tickers") or e.get("trades")]
        first = min(t.ts for t in ticks if t.product == product)
        out.append((product, first, orjson.dumps(part)))
    return out


def _only(event: dict, product: str) -> dict:
    event = dict(event)
    for field in ("tickers", "trades"):
        if field in event:
            event[field] = [x for x in event[field] if x.get("product_id") == product]
    return event
