"""The worker's HTTP endpoints (Faust web)."""

from __future__ import annotations

from faust import web
from faust.sensors.prometheus import setup_prometheus_sensors

from agents.scoring import scorer
from app import __version__
from app.core import app
from tables.bars import product_state

# /metrics: our volspike_* metrics and Faust's own sensor, one registry
setup_prometheus_sensors(app, pattern="/metrics", name_prefix="faust")


@app.page("/health")
async def health(self: web.View, request: web.Request) -> web.Response:
    return self.json({"status": "ok", "version": __version__})


@app.page("/api/products")
async def products(self: web.View, request: web.Request) -> web.Response:
    out = []
    for product, state in sorted(product_state.items()):
        bar, score = state.get("bar") or {}, state.get("score") or {}
        out.append(
            {
                "product": product,
                "window_end": bar.get("start", 0) + 1 if bar else None,
                "mid": bar.get("mid_close"),
                "probability": score.get("probability"),
                "threshold": score.get("threshold"),
                "model_version": score.get("model_version"),
            }
        )
    return self.json({"products": out, "model_version": scorer.version})
