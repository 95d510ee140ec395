"""ticks.raw → parsed ticks → 1-second bars → features → scores → alerts and archive.

Throughput: a ticks.raw message may carry many feed messages (sources batch
a backlog, see app/produce.py), so Faust's per-message cost is paid per
batch, not per tick. Everything a closed bar produces is done here, in
process, per message: the bars it closes are scored with one model call,
their scores queued for the producer as JSON record batches (app/batchsend.py), alerts decided
(agents/alerts.py), rows handed to the archive (agents/archive.py); then
each product's closed bars are written to the bars table as one record, with
their verdicts and the builder's and the alert state after them. No agent
reads `scores` back. The idle timer's closes take the same lock as a message,
so a product's bars are closed, decided and written in event-time order.

Nothing is lost on a crash because a tick's offset is acknowledged only
after the bar holding it is closed and written, its score is in the producer
(which Faust's commit flushes) and its row archived (acks go out in offset
order per partition, since Faust commits past gaps in the ack list).
After a crash, ticks of bars that were still open are redelivered and
rebuild them; ticks of closed bars are recognised from the restored bars and
skipped, and what the bars closed since the last commit produced (scores,
alerts, archive rows) is sent again from their records, so a crash changes
no bar, score or alert (`_restore` says why this is exact). Records are
purged by event time, but never one a restart could still need."""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import time
import weakref
from collections import deque
from dataclasses import dataclass, field

import orjson
from faust.streams import _current_event
from faust.types import TP, EventT

from agents.alerts import decide, send_alert
from agents.archive import archiver
from agents.quality import live
from agents.scoring import scorer
from app import history, metrics
from app.batchsend import TopicBatches
from app.core import alerts_topic, app, dlq_topic, raw_topic, scores_topic
from app.produce import SOURCE_HEADER, header, split_frames
from app.records import DeadLetter, Score, window_id
from app.settings import settings
from models import archive
from models.bars import Bar, BarBuilder, Outcome
from models.features import FEATURES, History, compute
from models.ticks import Rejected, parse
from tables.bars import bars, product_state, window_range

log = logging.getLogger(__name__)
score_batches = TopicBatches(scores_topic.get_topic_name())

#: records deleted per product per message at most (see `_purge`)
PURGE_BATCH = 32

#: Faust's record metadata, so consumers typed `Score` read what we send as raw JSON
SCORE_NS = {"ns": Score._options.namespace}


@dataclass(eq=False)
class ProductState:
    builder: BarBuilder
    history: History
    tp: TP
    #: this product's records in the bars table, (first bar start, last bar start, offset of
    #: the message that closed them), oldest first
    stored: deque[tuple[int, int, int]] = field(default_factory=deque)
    #: offsets of ticks redelivered after a restart end here (for metrics only)
    seen_offset: int = -1
    open_offsets: dict[int, int] = field(default_factory=dict)
    #: agents/alerts.py's state after this product's last scored bar
    alert: dict | None = None
    last_event: EventT | None = None
    last_wall: float = 0.0
    #: this product's ticks counter per source, looked up once, not per tick
    counters: dict[str, object] = field(default_factory=dict)
    windows: object = None  # this product's windows-scored counter
    probability: object = None  # and its live probability gauge
    key: bytes = b""

    def __post_init__(self) -> None:
        self.windows = metrics.WINDOWS.labels(self.builder.product)
        self.probability = metrics.PROBABILITY.labels(self.builder.product)
        self.key = self.builder.product.encode()

    def counter(self, source: str):
        counter = self.counters.get(source)
        if counter is None:
            counter = self.counters[source] = metrics.TICKS.labels(self.builder.product, source)
        return counter


#: a closed bar, with its product's state, its features and what computing them cost
Closed = tuple[ProductState, Bar, list[float], float]


def source_of(headers) -> str:
    """The `source` header publishers set on ticks.raw; "unknown" for foreign producers."""
    value = header(headers, SOURCE_HEADER)
    if value is None:
        return "unknown"
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class WindowStage:
    """Per-worker state of the windows agent; dropped for partitions it loses."""

    def __init__(self) -> None:
        self.products: dict[str, ProductState] = {}
        self.pending: dict[TP, deque[tuple[int, EventT]]] = {}
        #: the first offset seen on each partition since it was assigned: the committed one
        self.resumed_at: dict[TP, int] = {}
        #: bumped at each revocation; an event in flight across one stops, it is redelivered
        self.generation = 0
        #: a message and the idle timer's closes never interleave: bars close, are decided
        #: and are written in event-time order per product
        self.lock = asyncio.Lock()
        #: (partition, offset) of the message being handled: a release that runs while it
        #: waits (score batches or an archive file done) must not ack it before its ticks
        #: are applied
        self.processing: tuple[TP, int] | None = None

    async def on_event(self, event: EventT) -> None:
        tp = event.message.tp
        async with self.lock:
            self.processing = (tp, event.message.offset)
            try:
                await self._on_event(event)
            finally:
                self.processing = None
            self._release(tp)

    async def _on_event(self, event: EventT) -> None:
        generation = self.generation
        message = event.message
        tp, offset = message.tp, message.offset
        source = source_of(message.headers)
        queue = self.pending.get(tp)
        if queue is None:
            queue = self.pending[tp] = deque()
            self.resumed_at[tp] = offset
        queue.append((offset, event))
        now = time.time()
        #: bars closed by this message, scored together (one model call) before any await
        closed: list[Closed] = []
        #: applied ticks per product seen, counted (and the product's last event set) once
        #: per message, not per tick
        touched: dict[ProductState, int] = {}
        for index, raw in enumerate(split_frames(event.value, message.headers)):
            try:
                ticks = parse(raw)
            except Exception as exc:  # noqa: BLE001 - a parser bug must not stop the stream
                rejected = exc if isinstance(exc, Rejected) else Rejected("parser_error", repr(exc))
                if closed:
                    await self._close(closed, tp, offset)
                await self._dead_letter(event, raw, index, rejected)
                if generation != self.generation:
                    return
                continue
            if not ticks:
                metrics.CONTROL.inc()
            for tick in ticks:
                state = self.products.get(tick.product)
                if state is None:
                    if closed:
                        await self._close(closed, tp, offset)
                        if generation != self.generation:
                            return
                    state = await self._restore(tick.product, tp, generation)
                    if state is None:
                        return
                outcome, bars_closed = state.builder.feed(tick)
                if outcome is Outcome.APPLIED:
                    touched[state] = touched.get(state, 0) + 1
                    start = int(tick.ts)
                    if start not in state.open_offsets:
                        state.open_offsets[start] = offset
                else:
                    touched.setdefault(state, 0)
                    if outcome is Outcome.DUPLICATE:
                        metrics.DUPLICATES.labels(tick.product).inc()
                    elif offset > state.seen_offset:
                        metrics.LATE.labels(tick.product).inc()
                for bar in bars_closed:
                    closed.append(self._push(state, bar))
        if closed:
            await self._close(closed, tp, offset)
            if generation != self.generation:
                return
        for state, count in touched.items():
            state.last_event, state.last_wall = event, now  # for the idle timer
            if count:
                state.counter(source).inc(count)

    async def _dead_letter(self, event: EventT, raw: object, frame: int, exc: Rejected) -> None:
        metrics.REJECTED.labels(exc.reason).inc()
        message = event.message
        raw = raw if isinstance(raw, bytes | bytearray) else b""
        await dlq_topic.send(
            key=message.key,
            value=DeadLetter(
                reason=exc.reason,
                detail=exc.detail,
                raw_b64=base64.b64encode(raw).decode("ascii"),
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                timestamp=message.timestamp,
                frame=frame,
            ),
        )

    async def _restore(self, product: str, tp: TP, generation: int) -> ProductState | None:
        """State of a product this worker has not seen since it got the partition.

        Everything comes from the bars table: each record holds the bars one
        message closed, with the builder's and the alert state after them, and
        a product's records share one changelog partition, so the restored
        bars are exactly those written before the crash, in order. What they
        produced may not have reached the broker or the archive when the
        record was written after the last commit (the commit flushes the
        producer first, and acks wait for the archive's file); those records
        are the ones written at or after the offset the partition resumed
        from, and their scores, alerts and archive rows are sent again from
        the verdicts the record saved, so they are the same whatever model
        serves now; consumers drop duplicates by id. None when the partition
        was revoked meanwhile.
        """
        resumed_at = self.resumed_at[tp]
        saved = sorted(
            (key[1][0], value) for key, value in bars.table.items() if key[0] == product
        )
        await scorer.ensure_loaded()
        if generation != self.generation:
            return None
        state = ProductState(BarBuilder(product, grace=settings.grace_seconds), History(), tp)
        self.products[product] = state
        if not saved:
            return state
        resend: list[tuple[list[Closed], dict]] = []
        for start, value in saved:
            # a record from before bars were batched holds one "bar" and no alert state
            chunk = [Bar.from_dict(b) for b in value.get("bars") or [value["bar"]]]
            state.stored.append((int(start), chunk[-1].start, value["offset"]))
            state.seen_offset = max(state.seen_offset, value["offset"])
            pushed = [self._push(state, bar) for bar in chunk]
            if value["offset"] >= resumed_at:
                resend.append((pushed, value))
        last_start, last = chunk[-1].start, saved[-1][1]
        state.builder = BarBuilder.from_state(
            product, {"closed_through": last_start, "carry_mid": last["carry_mid"],
                      "recent_ids": []}, grace=settings.grace_seconds,
        )
        state.alert = last.get("alert")
        for pushed, value in resend:
            await self._publish(pushed, tp, value["offset"], again=set(value.get("fired", ())),
                                given=value.get("verdicts"))
            if generation != self.generation:
                return None
        self._purge(state, last_start)
        log.info("restored %s: %d records through %d, %d windows sent again",
                 product, len(saved), last_start, sum(len(p) for p, _ in resend))
        return state

    @staticmethod
    def _push(state: ProductState, bar: Bar) -> Closed:
        """Add a closed bar to its product's history; its features, and what they cost."""
        started = time.perf_counter()
        state.history.push(bar)
        return state, bar, compute(state.history), time.perf_counter() - started

    @staticmethod
    def _scores(closed: list[Closed], given: list[list] | None = None) -> list[dict]:
        """Scores of closed bars, as sent on `scores`, from one model call (per call, not per
        row, is what scoring costs); or from the verdicts `given` by their saved record, so a
        window sent again after a restart is the same whatever model serves by then."""
        if given is None:
            started = time.perf_counter()
            probabilities, threshold, name, version = scorer.score_many(
                [features for _, _, features, _ in closed])
            share = (time.perf_counter() - started) / len(closed)
            for _, _, _, cost in closed:
                metrics.SCORING_SECONDS.observe(cost + share)
            given = [[p, threshold, name, version] for p in probabilities]
        scores = []
        for (_, bar, features, _), verdict in zip(closed, given, strict=True):
            probability, threshold, model_name, model_version = verdict
            scores.append({
                "id": window_id(bar.product, bar.end),
                "product": bar.product,
                "window_start": bar.start,
                "window_end": bar.end,
                "features": dict(zip(FEATURES, features, strict=True)),
                "probability": probability,
                "threshold": threshold,
                "model_name": model_name,
                "model_version": model_version,
                "bar": bar.to_dict(),
                "__faust": SCORE_NS,
            })
        return scores

    async def _publish(self, closed: list[Closed], tp: TP, offset: int,
                       again: set[int] | None = None,
                       given: list[list] | None = None) -> list[tuple[dict, bool]]:
        """Score closed bars and send what they produce: scores, alerts, archive rows, chart
        points. Alerts are decided here, except when sending `again` after a restart: then
        the windows that alerted before (their ends) alert again. (score, alerted) per bar."""
        now = time.time()
        producer = (await app.maybe_start_producer())._ensure_producer()
        scores, rows, out, records = self._scores(closed, given), [], [], []
        for (state, bar, features, _), score in zip(closed, scores, strict=True):
            if again is None:
                state.alert, fire = decide(
                    state.alert, bar.end, score["probability"], score["threshold"])
                metrics.EVENT_LAG_SECONDS.observe(max(now - bar.end, 0.0))
            else:
                fire = bar.end in again
            records.append((state.key, orjson.dumps(score)))
            if fire:
                await send_alert(score, again=again is not None)
            history.record_score(score, bar.mid_close)
            live.observe(bar, features, score["probability"])
            rows.append(archive.row(score))
            out.append((score, fire))
        await score_batches.send(producer, records, tp, offset)
        archiver.add(tp, offset, rows)
        return out

    async def _close(self, closed: list[Closed], tp: TP, offset: int) -> None:
        """Publish what closed bars produce, then write each product's bars as one bars-table
        record (never one per tick or per bar) and the web view's state. Empties `closed`."""
        published = await self._publish(closed, tp, offset)
        metrics.THRESHOLD.set(published[-1][0]["threshold"])
        by_product: dict[str, list[tuple[dict, bool]]] = {}
        states = {}
        for (state, bar, _, _), done in zip(closed, published, strict=True):
            by_product.setdefault(bar.product, []).append(done)
            states[bar.product] = state
        closed.clear()
        table = bars.table
        for product, done in by_product.items():
            state, score = states[product], done[-1][0]
            saved = [s["bar"] for s, _ in done]
            first, last = saved[0]["start"], saved[-1]["start"]
            table[(product, window_range(first))] = {
                "bars": saved,
                "verdicts": [[s["probability"], s["threshold"], s["model_name"],
                              s["model_version"]] for s, _ in done],
                "carry_mid": state.builder.carry_mid, "offset": offset, "alert": state.alert,
                "fired": [s["window_end"] for s, fired in done if fired],
            }
            state.windows.inc(len(saved))
            state.probability.set(score["probability"])
            state.stored.append((first, last, offset))
            # written: the ticks of these bars no longer hold the partition's acks
            for bar in saved:
                state.open_offsets.pop(bar["start"], None)
            self._purge(state, last)
            state.seen_offset = max(state.seen_offset, offset)
            product_state[product] = {
                "bar": score["bar"],
                "score": {"probability": score["probability"], "threshold": score["threshold"],
                          "model_version": score["model_version"],
                          "features": score["features"]},
            }

    def _purge(self, state: ProductState, start: int) -> None:
        """Delete records older than the retention, by event time, but never one a restart
        would re-send: closed by a message that is not acked yet. At most `PURGE_BATCH` per
        call: when an archive roll releases many acks at once, the records they free are
        deleted over the next messages, not in one stall of the stream."""
        horizon = start - settings.bar_retention_seconds
        queue = self.pending.get(state.tp)
        unacked = queue[0][0] if queue else math.inf
        stored, table = state.stored, bars.table
        for _ in range(PURGE_BATCH):
            if not (stored and stored[0][1] < horizon and stored[0][2] < unacked):
                break
            del table[(state.builder.product, window_range(stored.popleft()[0]))]

    def release(self, tps: set[TP]) -> None:
        for tp in tps:
            self._release(tp)

    def _release(self, tp: TP) -> None:
        """Ack, in offset order, every event below the oldest tick still in an open bar, or in
        a bar whose score is not in the producer yet or whose row is not archived yet."""
        watermark = min(archiver.holds(tp), score_batches.holds(tp))
        if self.processing is not None and self.processing[0] == tp:
            watermark = min(watermark, self.processing[1])
        for state in self.products.values():
            if state.tp == tp and state.open_offsets:
                first = min(state.open_offsets.values())
                if first < watermark:
                    watermark = first
        queue = self.pending.get(tp)
        if queue is None:  # revoked while this event was in flight: redelivered elsewhere
            return
        while queue and queue[0][0] < watermark:
            queue.popleft()[1].ack()

    async def close_idle(self, now: float) -> None:
        """Live only: close bars of products that went quiet (wall-clock timer)."""
        idle, tolerance = settings.idle_close_seconds, settings.live_tolerance_seconds
        async with self.lock:
            for product, state in list(self.products.items()):
                builder = state.builder
                if self.products.get(product) is not state:  # its partition was revoked
                    continue
                if not builder.open or state.last_event is None:
                    continue
                if now - state.last_wall < idle or abs(now - builder.watermark) > tolerance + idle:
                    continue
                due = builder.close_until(now - settings.grace_seconds)
                if not due:
                    continue
                # table writes go to the partition of the product's last event
                token = _current_event.set(weakref.ref(state.last_event))
                try:
                    await self._close([self._push(state, bar) for bar in due], state.tp,
                                      state.last_event.message.offset)
                finally:
                    _current_event.reset(token)
                self._release(state.tp)

    def on_revoked(self, revoked: set[TP]) -> None:
        """Forget partitions we lose: their unacked ticks will be redelivered."""
        self.generation += 1
        lost = {p for p, s in self.products.items() if s.tp in revoked}
        for product in lost:
            del self.products[product]
        live.forget(lost)
        archiver.on_revoked(revoked)
        score_batches.forget(revoked)
        for tp in revoked:
            self.pending.pop(tp, None)
            self.resumed_at.pop(tp, None)


stage = WindowStage()
archiver.on_written = score_batches.on_sent = stage.release


@app.agent(raw_topic)
async def windows(stream):
    async for event in stream.noack().events():
        await stage.on_event(event)


@app.task
async def declare_outputs() -> None:
    """Output topics exist from the start, so their consumers can subscribe before the
    first tick: no agent subscribes to them, which is what otherwise creates a topic.
    Faust creates them (VOLSPIKE_TOPIC_DECLARE), or asking the broker for their metadata
    does (auto-creation, as the embedded broker and Kafka's default do)."""
    producer = await app.maybe_start_producer()
    for topic in (scores_topic, alerts_topic, dlq_topic):
        await topic.maybe_declare()
        await producer._ensure_producer().partitions_for(topic.get_topic_name())


@app.on_partitions_revoked.connect
async def _on_revoked(app, revoked: set[TP], **kwargs) -> None:
    stage.on_revoked(revoked)


if settings.idle_close_seconds > 0:

    @app.timer(interval=min(1.0, settings.idle_close_seconds))
    async def close_idle_windows() -> None:
        await stage.close_idle(time.time())
