"""The worker's HTTP endpoints (Faust web): dashboard, JSON API, probes, /predict, /metrics.

With several workers each one holds the tables and recent history of the
partitions it owns: a request about one product is forwarded to its owner
(see `_on_owner`), and the product list asks every worker for its own.
"""

from __future__ import annotations

import asyncio
import subprocess
from functools import cache
from pathlib import Path

import aiohttp
from aiokafka.partitioner import murmur2
from faust import web
from faust.sensors.prometheus import setup_prometheus_sensors
from yarl import URL

from agents.scoring import scorer
from app import __version__, history, metrics
from app.core import app
from app.predict import MAX_BODY_BYTES, BadRequest, parse
from app.settings import settings
from models.features import FEATURE_SPEC_HASH
from tables.bars import product_state

STATIC = Path(__file__).with_name("static")
ROOT = Path(__file__).resolve().parents[1]
MAX_ALERTS = 200
TIMEOUT = aiohttp.ClientTimeout(total=2)
FORWARDED = "X-Volspike-Forwarded"

# /metrics: our volspike_* metrics and Faust's own sensor, one registry
setup_prometheus_sensors(app, pattern="/metrics", name_prefix="faust")


@app.task
async def _load_model() -> None:
    """Load the serving model at start, not at the first tick, so /ready can say so."""
    await scorer.ensure_loaded()


@app.page("/")
async def dashboard(self: web.View, request: web.Request) -> web.Response:
    return self.html(_static("index.html"))


@app.page("/static/dashboard.js")
async def dashboard_js(self: web.View, request: web.Request) -> web.Response:
    return self.text(_static("dashboard.js"), content_type="application/javascript")


@cache
def _static(name: str) -> str:
    return (STATIC / name).read_text()


@app.page("/health")
async def health(self: web.View, request: web.Request) -> web.Response:
    return self.json({"status": "ok", "version": __version__})


@app.page("/ready")
async def ready(self: web.View, request: web.Request) -> web.Response:
    reasons = []
    if not app.assignor.assigned_actives():
        reasons.append("no partitions assigned")
    if app.rebalancing:
        reasons.append("rebalancing")
    if app.in_recovery or not app.tables.recovery.completed.is_set():
        reasons.append("table recovery in progress")
    if not scorer.loaded:
        reasons.append("model not loaded")
    if reasons:
        return self.json({"status": "not ready", "reasons": reasons}, status=503)
    if scorer.degraded:  # still serving the previous model: ready, but say why it is stale
        return self.json({"status": "degraded", "model_version": scorer.version,
                          "reasons": [scorer.last_error]})
    return self.json({"status": "ready", "model_version": scorer.version})


@app.page("/version")
async def version(self: web.View, request: web.Request) -> web.Response:
    model = scorer.model
    return self.json({
        "version": __version__,
        "git_revision": settings.git_revision or _git_revision(),
        "model": {
            "name": scorer.name,
            "version": scorer.version,
            "run_id": model.run_id if model else None,
            "alias": model.alias if model else None,
            "threshold": scorer.threshold,
        },
        "feature_spec_hash": FEATURE_SPEC_HASH,
    })


@cache
def _git_revision() -> str:
    try:
        done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=5)
    except OSError:
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 else "unknown"


@app.page("/api/products")
async def products(self: web.View, request: web.Request) -> web.Response:
    found = {item["product"]: item for item in _local_products()}
    if "local" not in request.query:
        for item in await _from_other_workers("/api/products?local=1", "products"):
            found.setdefault(item["product"], item)
    return self.json({"products": [found[p] for p in sorted(found)],
                      "model_version": scorer.version})


def _local_products() -> list[dict]:
    return [_summary(product, state) for product, state in product_state.items()]


def _summary(product: str, state: dict) -> dict:
    bar, score = state.get("bar") or {}, state.get("score") or {}
    return {
        "product": product,
        "window_end": bar["start"] + 1 if bar else None,
        "mid": bar.get("mid_close"),
        "probability": score.get("probability"),
        "threshold": score.get("threshold"),
        "model_version": score.get("model_version"),
    }


async def _from_other_workers(path: str, field: str) -> list:
    """`field` of `path`'s JSON from every other worker that holds table partitions."""
    me = str(app.conf.canonical_url).rstrip("/")
    hosts = [h for h in app.router.tables_metadata() if str(h).rstrip("/") != me]

    async def fetch(host: str) -> list:
        try:
            async with app.http_client.get(str(host).rstrip("/") + path, timeout=TIMEOUT) as reply:
                return (await reply.json()).get(field, []) if reply.status == 200 else []
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return []  # a worker going away must not break the list

    return [item for found in await asyncio.gather(*map(fetch, hosts)) for item in found]


async def _on_owner(view: web.View, request: web.Request, product: str) -> web.Response | None:
    """The owner's answer when another worker owns `product`; None when we do.

    Faust's `table_route` would hash the table's JSON-serialized key and name
    the wrong worker for some products, or fail on a worker that never wrote
    to the changelog topic. A forwarded
    request is answered where it lands, so a disagreement during a rebalance
    cannot bounce it back and forth.
    """
    if request.headers.get(FORWARDED):
        return None
    owner = _owner(product)
    me = URL(str(app.conf.canonical_url))
    if owner is None or (owner.host, owner.port) == (me.host, me.port):
        return None
    url = request.url.with_host(owner.host).with_port(owner.port)
    try:
        async with app.http_client.get(url, headers={FORWARDED: "1"}, timeout=TIMEOUT) as reply:
            return view.text(await reply.text(), content_type=reply.content_type,
                             status=reply.status)
    except (aiohttp.ClientError, TimeoutError):
        return view.json({"error": f"the worker that owns {product} did not answer"},
                         status=503)


def _owner(product: str) -> URL | None:
    """The worker assigned the product's partition: the ticks' own partitioner (murmur2
    of the raw key) over the partition count, looked up in the group's assignment."""
    topic = product_state.changelog_topic.get_topic_name()
    partition = (murmur2(product.encode()) & 0x7FFFFFFF) % app.conf.topic_partitions
    for host, topics in app.router.table_metadata(product_state.name).items():
        if partition in topics.get(topic, ()):
            return URL(host)
    return None


@app.page("/api/products/{product}")
async def product(self: web.View, request: web.Request, product: str) -> web.Response:
    """Latest bar, features and score, and the chart points after `since` (epoch s)."""
    routed = await _on_owner(self, request, product)
    if routed is not None:
        return routed
    state = product_state.get(product)
    if state is None:
        return self.json({"error": f"unknown product {product}"}, status=404)
    since = _number(request.query.get("since"), "since")
    score = state.get("score") or {}
    return self.json({
        **_summary(product, state),
        "bar": state.get("bar"),
        "features": score.get("features"),
        "points": history.points(product, since),
    })


@app.page("/api/alerts")
async def alerts(self: web.View, request: web.Request) -> web.Response:
    """Recent alerts, newest first; with ?product= from the worker that raises them."""
    product = request.query.get("product") or None
    limit = _number(request.query.get("limit"), "limit", integer=True)
    limit = 50 if limit is None else limit
    if not 1 <= limit <= MAX_ALERTS:
        raise BadRequest(400, f"limit must be between 1 and {MAX_ALERTS}")
    if product is not None:
        # alerts are raised where the product's ticks partition is: its product-state key's
        routed = await _on_owner(self, request, product)
        if routed is not None:
            return routed
    return self.json({"alerts": history.alerts(product, int(limit))})


def _number(raw: str | None, name: str, integer: bool = False) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        return int(raw) if integer else float(raw)
    except ValueError:
        raise BadRequest(400, f"{name} must be a number") from None


@app.page("/predict")
class Predict(web.View):
    """Features → probability and alert decision from the serving model."""

    async def post(self, request: web.Request) -> web.Response:
        try:
            rows, many = parse(await _read_body(request))
        except BadRequest as exc:
            metrics.PREDICT_REQUESTS.labels(str(exc.code)).inc()
            raise
        await scorer.ensure_loaded()
        model = scorer.model
        if model is not None:
            probabilities = model.predict_many(rows).tolist()
        else:
            probabilities = [scorer.predict(row.tolist()) for row in rows]
        threshold = scorer.threshold
        results = [{"probability": p, "alert": p >= threshold} for p in probabilities]
        metrics.PREDICT_REQUESTS.labels("200").inc()
        head = {"threshold": threshold, "model_name": scorer.name,
                "model_version": scorer.version}
        return self.json({**head, "predictions": results} if many else {**head, **results[0]})


async def _read_body(request: web.Request) -> bytes:
    """The body, refusing more than MAX_BODY_BYTES without reading it all."""
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BadRequest(413, f"body over {MAX_BODY_BYTES} bytes")
    chunks, size = [], 0
    while chunk := await request.content.read(65536):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BadRequest(413, f"body over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
