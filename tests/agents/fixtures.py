"""Raw feed messages for agent tests, in the Advanced Trade format."""

from __future__ import annotations

import orjson

from models.simulator import iso

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def ticker(product: str, ts: float, bid: float, ask: float, seq: int) -> bytes:
    return orjson.dumps({
        "channel": "ticker", "client_id": "", "timestamp": iso(ts), "sequence_num": seq,
        "events": [{"type": "update", "tickers": [{
            "type": "ticker", "product_id": product, "price": f"{(bid + ask) / 2:.2f}",
            "best_bid": f"{bid:.2f}", "best_ask": f"{ask:.2f}",
        }]}],
    })


def trade(product: str, ts: float, price: float, size: float, trade_id: int, seq: int) -> bytes:
    return orjson.dumps({
        "channel": "market_trades", "client_id": "", "timestamp": iso(ts), "sequence_num": seq,
        "events": [{"type": "update", "trades": [{
            "trade_id": str(trade_id), "product_id": product, "price": f"{price:.2f}",
            "size": f"{size:.8f}", "side": "BUY", "time": iso(ts),
        }]}],
    })


def quotes(product: str, seconds: int, per_second: int = 4, start: int = T0) -> list[bytes]:
    """A quiet market: `per_second` quotes a second with a slowly drifting mid."""
    out, seq = [], 0
    for s in range(seconds):
        for k in range(per_second):
            mid = 100.0 + 0.01 * ((s * per_second + k) % 7)
            seq += 1
            out.append(ticker(product, start + s + (k + 0.5) / per_second, mid - 0.01,
                              mid + 0.01, seq))
    return out


async def feed(messages: list[bytes], product: str, source: str | None = "replay") -> list:
    """Put messages to the windows agent; what it sent is on the broker on return."""
    from agents.windows import windows
    from app.core import app

    headers = {"source": source.encode()} if source else None
    async with windows.test_context() as agent:
        events = [await agent.put(raw, key=product.encode(), headers=headers)
                  for raw in messages]
    await app.producer.flush()
    return events
