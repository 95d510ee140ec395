"""A seeded synthetic market in Coinbase Advanced Trade format.

Offline source for demos, the bootstrap model and tests of the plumbing; not
a substitute for real data when parsing or model quality is at stake.

Each product follows a random walk whose per-second volatility is a baseline
times a spike multiplier. Spikes arrive as a self-exciting process (one spike
raises the odds of the next, so they cluster), build up over ~20 s (activity
and spread rise first, as order flow does before a move), peak, and decay.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import orjson

DEFAULT_PRODUCTS = ("BTC-USD", "ETH-USD", "SOL-USD")
BASE_PRICES = {"BTC-USD": 90_000.0, "ETH-USD": 3_000.0, "SOL-USD": 150.0}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _Product:
    product: str
    mid: float
    base_vol: float
    base_rate: float
    spike: float = 0.0  # current extra volatility multiplier
    build: float = 0.0  # pending spike still building up
    excitation: float = 0.0
    volume_24h: float = 10_000.0
    trade_id: int = 0


class Market:
    """Generates messages second by second; `messages()` yields (ts, product, raw)."""

    def __init__(
        self,
        products: tuple[str, ...] | list[str] = DEFAULT_PRODUCTS,
        *,
        seed: int = 7,
        start: float | None = None,
        spike_rate: float = 1 / 400,
        vol_scale: float = 1.0,
    ) -> None:
        self.rng = np.random.default_rng(seed)
        self.t = int(start if start is not None else datetime.now(UTC).timestamp())
        self.spike_rate = spike_rate
        self.seq = 0
        self.products = [
            _Product(
                p,
                BASE_PRICES.get(p, 100.0 * (1 + i)),
                base_vol=3e-5 * vol_scale,
                base_rate=4.0 + i,
            )
            for i, p in enumerate(products)
        ]

    def _step_state(self, s: _Product) -> None:
        rng = self.rng
        # expected offspring per spike = 1.6 * rate * 120 s ≈ 0.5 < 1: clusters, never runaway
        intensity = self.spike_rate * (1.0 + 1.6 * s.excitation)
        if rng.random() < intensity:
            s.build += rng.uniform(3.0, 9.0)
            s.excitation += 1.0
        moved = min(s.build, s.build * 0.12 + 0.05) if s.build > 0 else 0.0
        s.build -= moved
        s.spike = s.spike * math.exp(-1 / rng.uniform(25.0, 70.0)) + moved
        s.excitation *= math.exp(-1 / 120.0)

    def _second(self, s: _Product) -> list[tuple[float, dict]]:
        rng = self.rng
        self._step_state(s)
        vol = s.base_vol * (1.0 + s.spike)
        pressure = 1.0 + 2.0 * s.build + 0.5 * s.spike
        n_quotes = int(rng.poisson(s.base_rate * pressure))
        n_trades = int(rng.poisson(0.6 * s.base_rate * pressure))
        out: list[tuple[float, dict]] = []
        times = np.sort(rng.uniform(0.0, 1.0, n_quotes + n_trades))
        kinds = rng.permutation([0] * n_quotes + [1] * n_trades)
        per_tick = vol / math.sqrt(max(n_quotes, 1))
        spread_bps = 0.3 * (1.0 + 0.8 * s.build + 0.3 * s.spike) * rng.uniform(0.8, 1.2)
        for frac, kind in zip(times, kinds, strict=True):
            ts = self.t + float(frac)
            if kind == 0:
                s.mid *= math.exp(rng.normal(0.0, per_tick))
                half = max(s.mid * spread_bps * 1e-4 / 2, 0.005)
                bid = round(s.mid - half, 2)
                ask = max(round(s.mid + half, 2), round(bid + 0.01, 2))
                out.append((ts, self._ticker(s, ts, bid, ask)))
            else:
                size = float(rng.lognormal(-4.0, 1.2)) * pressure
                s.volume_24h += size
                out.append((ts, self._trade(s, ts, size, bool(rng.random() < 0.5))))
        return out

    def _envelope(self, channel: str, ts: float, events: list) -> dict:
        """A message without its sequence number, which is given in send order."""
        return {"channel": channel, "client_id": "", "timestamp": iso(ts), "events": events}

    def _ticker(self, s: _Product, ts: float, bid: float, ask: float) -> dict:
        ticker = {
            "type": "ticker",
            "product_id": s.product,
            "price": f"{s.mid:.2f}",
            "volume_24_h": f"{s.volume_24h:.8f}",
            "low_24_h": f"{s.mid * 0.97:.2f}",
            "high_24_h": f"{s.mid * 1.03:.2f}",
            "low_52_w": f"{s.mid * 0.6:.2f}",
            "high_52_w": f"{s.mid * 1.4:.2f}",
            "price_percent_chg_24_h": "0.0",
            "best_bid": f"{bid:.2f}",
            "best_ask": f"{ask:.2f}",
            "best_bid_quantity": f"{self.rng.uniform(0.001, 1.0):.8f}",
            "best_ask_quantity": f"{self.rng.uniform(0.001, 1.0):.8f}",
        }
        return self._envelope("ticker", ts, [{"type": "update", "tickers": [ticker]}])

    def _trade(self, s: _Product, ts: float, size: float, buy: bool) -> dict:
        s.trade_id += 1
        trade = {
            "trade_id": str(s.trade_id),
            "product_id": s.product,
            "price": f"{s.mid:.2f}",
            "size": f"{size:.8f}",
            "side": "BUY" if buy else "SELL",
            "time": iso(ts),
        }
        return self._envelope("market_trades", ts, [{"type": "update", "trades": [trade]}])

    def messages(self, seconds: int | None = None) -> Iterator[tuple[float, str, bytes]]:
        """Messages in event-time order; endless when `seconds` is None."""
        done = 0
        while seconds is None or done < seconds:
            batch: list[tuple[float, str, dict]] = []
            for s in self.products:
                batch.extend((ts, s.product, msg) for ts, msg in self._second(s))
            batch.sort(key=lambda item: item[0])
            for ts, product, msg in batch:
                # one connection's sequence numbers follow send order, as on Coinbase
                self.seq += 1
                msg["sequence_num"] = self.seq
                msg["events"] = msg.pop("events")  # keep Coinbase's key order
                yield ts, product, orjson.dumps(msg)
            self.t += 1
            done += 1
