"""The benchmark's table: each figure, its target, met or not, and its ratio to the ceilings."""

from __future__ import annotations

import re
from pathlib import Path

TARGETS = {
    "pipeline_ticks_per_s": ("≥ 30,000 ticks/s", lambda v: v >= 30_000),
    "latency_p99": ("p99 < 50 ms", lambda v: v < 50),
    "scoring_p99": ("p99 < 0.5 ms", lambda v: v < 0.5),
    "predict_p95": ("p95 < 5 ms", lambda v: v < 5),
    "worker_peak_rss_mb": ("< 500 MB", lambda v: v < 500),
}
DOCS_BEGIN, DOCS_END = "<!-- bench:latest -->", "<!-- /bench:latest -->"


def _met(key: str, value: float | None) -> tuple[str, str]:
    target, ok = TARGETS[key]
    if value is None:
        return target, "not measured"
    return target, "met" if ok(value) else "**not met**"


def _ratio(value: float | None, ceiling: float | None) -> str:
    return f"{value / ceiling:.1%}" if value and ceiling else "—"


def _ms(d: dict | None, *qs: str) -> str:
    if not d or d.get(qs[-1]) is None:
        return "—"
    return " / ".join(f"{d[q]:g}" for q in qs) + " ms"


def rows(r: dict) -> list[list[str]]:
    a, b = r.get("ceiling_aiokafka_ticks_per_s"), r.get("ceiling_faust_ticks_per_s")
    p = r.get("pipeline_ticks_per_s")
    phases = r.get("phases", {})

    def load(phase: str) -> str:
        la = (phases.get(phase) or {}).get("load_average")
        return f"{la[0]:.2f}" if la else "—"

    def cpu(phase: str) -> str:
        us = (phases.get(phase) or {}).get("cpu_us_per_tick")
        return f"{us:g} µs CPU/tick" if us else ""

    def tps(v: float | None, phase: str) -> str:
        return f"{v:,.0f} ticks/s ({cpu(phase)})" if v else "—"

    lat, pred, sc = r.get("latency_ms"), r.get("predict_ms"), r.get("scoring_ms")
    rss = r.get("worker_peak_rss_mb")
    out = [
        ["ceiling A: raw aiokafka loop + parse", tps(a, "ceiling_aiokafka"), "—", "—",
         "100%" if a else "—", _ratio(a, b), load("ceiling_aiokafka")],
        ["ceiling B: bare Faust agent + parse", tps(b, "ceiling_faust"), "—", "—",
         _ratio(b, a), "100%" if b else "—", load("ceiling_faust")],
        ["full pipeline, per worker", tps(p, "pipeline"),
         *_met("pipeline_ticks_per_s", p), _ratio(p, a), _ratio(p, b), load("pipeline")],
        ["latency closing tick → score at 1,000 ticks/s, p50 / p95 / p99",
         _ms(lat, "p50", "p95", "p99"), *_met("latency_p99", (lat or {}).get("p99")),
         "—", "—", load("latency")],
        *([[f"latency at {half['rate']:,.0f} ticks/s (half the capacity), p50 / p95 / p99",
             _ms(half, "p50", "p95", "p99"), "—", "—", "—", "—", load("latency_half_capacity")]]
          if (half := r.get("latency_half_capacity_ms")) else []),
        ["scoring per window (features + predict), p50 / p99",
         _ms(sc, "p50", "p99"), *_met("scoring_p99", (sc or {}).get("p99")), "—", "—",
         load("scoring")],
        ["POST /predict at 200 req/s, p50 / p95 / p99", _ms(pred, "p50", "p95", "p99"),
         *_met("predict_p95", (pred or {}).get("p95")), "—", "—", load("predict")],
        ["worker peak RSS (VmHWM)", f"{rss:.0f} MB" if rss else "—",
         *_met("worker_peak_rss_mb", rss), "—", "—", load("pipeline")],
    ]
    return out


def table(r: dict) -> str:
    head = ["figure", "measured", "target", "met", "of ceiling A", "of ceiling B",
            "load avg (1 min)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(r)]
    return "\n".join(lines)


def summary(r: dict) -> str:
    """The table with what produced it, as printed and as shown in the docs."""
    checks = r.get("pipeline_counters") or {}
    return "\n".join([
        f"`{r['command']}` — {r['date']}, revision {r['git_revision']}, {r['machine']}",
        f"input: {r['source']}; {r['ticks']:,} ticks per throughput phase; "
        f"load average at start {r['load_average']['start']}, at end {r['load_average']['end']}",
        "",
        table(r),
        "",
        "worker counters after the run: " + (", ".join(f"{k} {v:g}" for k, v in checks.items())
                                             or "—"),
        "",
        profile_table(r),
    ]).rstrip() + "\n"


def profile_table(r: dict) -> str:
    """The worker's busy time by stage, as % and as CPU µs per tick and per closed bar."""
    prof, pipe = r.get("profile") or {}, (r.get("phases") or {}).get("pipeline") or {}
    shares, us_tick = prof.get("categories_pct"), pipe.get("cpu_us_per_tick")
    if not shares or not us_tick:
        return ""
    per_bar = pipe.get("ticks_per_bar") or 0
    lines = [f"Where the pipeline worker's CPU goes (shares: py-spy, {prof['samples']:,} busy "
             f"samples in a pass of its own; µs: the measured pass's {us_tick:g} µs CPU per "
             f"tick, {per_bar:g} ticks per closed bar):", "",
             "| stage | % of busy | µs per tick | µs per closed bar |", "|---|---|---|---|"]
    for label, pct in sorted(shares.items(), key=lambda kv: -kv[1]):
        if pct:
            us = pct / 100 * us_tick
            lines.append(f"| {label} | {pct:g}% | {us:.0f} | {us * per_bar:.0f} |")
    return "\n".join(lines)


def write_docs(path: Path, r: dict) -> None:
    """Replace the marked section of docs/benchmarks.md with this run's summary."""
    text = path.read_text()
    block = f"{DOCS_BEGIN}\n{summary(r)}\n{DOCS_END}"
    pattern = re.compile(re.escape(DOCS_BEGIN) + ".*?" + re.escape(DOCS_END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{path} has no {DOCS_BEGIN} … {DOCS_END} section")
    path.write_text(pattern.sub(lambda _m: block, text))
