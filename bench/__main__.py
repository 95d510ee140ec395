"""`make bench`: the pipeline's speed against the engine's own ceilings, in one run.

On one embedded broker, in a temp folder, it measures ceiling A (a raw
aiokafka loop), ceiling B (a bare Faust agent) and the full pipeline (a real
`python -m app worker` serving a freshly trained champion) on the same
messages, then latency at a fixed input rate, scoring cost per window,
/predict under load and the worker's peak RSS. It prints the table, writes it
as JSON to var/bench/latest.json and, with --write-docs, into
docs/benchmarks.md. Every process it starts is killed on exit, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.settings import settings
from bench import feed, profile, report, throughput
from bench.latency import closing_latency
from bench.scoring import scoring_cost
from bench.throughput import backlog_rounds, ceiling_aiokafka, until
from tests.stack import ROOT, Proc, Stack, all_samples, http_get

PHASES = ("aiokafka", "faust", "pipeline", "latency", "scoring", "predict", "profile")
RECORDINGS = ROOT.parent / "shared" / "data" / "coinbase"
#: what the pipeline worker's /metrics count for every tick it consumed
CONSUMED = ("volspike_ticks_total", "volspike_duplicate_ticks_total",
            "volspike_late_ticks_total")
COUNTERS = CONSUMED + ("volspike_rejected_ticks_total", "volspike_windows_scored_total",
                       "volspike_alerts_total")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=200_000,
                        help="ticks per throughput phase (default 200000)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: few ticks, short loads (figures mean little)")
    parser.add_argument("--skip", action="append", default=[], choices=PHASES,
                        help="leave a phase out (repeatable)")
    parser.add_argument("--chunk", type=int, default=6_000,
                        help="messages per round; must fit the broker's ~5 MB per partition")
    parser.add_argument("--recordings", type=Path, default=RECORDINGS,
                        help="Coinbase recordings to loop (the simulator when absent)")
    parser.add_argument("--fetch-max-wait-ms", type=int, default=settings.fetch_max_wait_ms,
                        help="the consumers' fetch max wait (VOLSPIKE_FETCH_MAX_WAIT_MS) in the "
                             "workers and in ceiling A")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "latest.json")
    parser.add_argument("--write-docs", action="store_true",
                        help="put the table into docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.ticks = min(args.ticks, 5_000)
        args.chunk = min(args.chunk, 2_000)
    return args


def git_revision() -> str:
    done = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                          capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def counters(url: str, names: tuple[str, ...] = COUNTERS) -> dict[str, float]:
    """Each counter summed over its labels, from one scrape of the worker's /metrics."""
    scraped = all_samples(url + "/metrics", timeout=30.0)
    return {name: sum(v for _, v in scraped.get(name, [])) for name in names}


async def run(args: argparse.Namespace, stack: Stack, tmp: Path) -> dict:
    skip = set(args.skip)
    source_name, _ = feed.source(args.recordings)

    def items():
        """A fresh copy of the input: every phase gets the same messages."""
        return feed.routed(feed.source(args.recordings)[1])

    result: dict = {"source": source_name, "ticks": args.ticks, "phases": {},
                    "fetch_max_wait_ms": throughput.CONSUMER_SETTINGS["fetch_max_wait_ms"]}
    phases = result["phases"]
    uri, artifacts = stack.env["VOLSPIKE_MLFLOW_TRACKING_URI"], stack.env[
        "VOLSPIKE_MLFLOW_ARTIFACTS"]
    log(f"training a champion ({source_name} feeds the phases)")
    stack.run(["train", "--simulated", "600" if args.quick else "1800"],
              env={"VOLSPIKE_DATA_DIR": str(tmp),
                   "VOLSPIKE_SEARCH_SECONDS": "2" if args.quick else "20"})
    if "scoring" not in skip:
        log("scoring cost per window, in-process")
        calls = 2_000 if args.quick else 10_000
        phases["scoring"] = scoring_cost(feed.take(items(), 60_000), uri, artifacts, calls)
        result["scoring_ms"] = phases["scoring"]
    stack.start_broker()
    bootstrap = stack.bootstrap
    warmup = min(2_000, args.chunk)

    if "aiokafka" not in skip:
        log(f"ceiling A: raw aiokafka loop over {args.ticks:,} ticks")
        a = await ceiling_aiokafka(bootstrap, items(), args.ticks, args.chunk)
        phases["ceiling_aiokafka"] = a.as_dict()
        result["ceiling_aiokafka_ticks_per_s"] = round(a.ticks_per_s)
        log(f"ceiling A: {phases['ceiling_aiokafka']}")

    if "faust" not in skip:
        log(f"ceiling B: bare Faust agent over {args.ticks:,} ticks")
        topic = "bench.faust"
        async with feed.Producer(bootstrap) as producer:
            await producer.touch(topic)
            bare = stack.start_worker("bare", module="bench.bare", env={
                "VOLSPIKE_BENCH_TOPIC": topic,
                "VOLSPIKE_APP_ID": stack.env["VOLSPIKE_APP_ID"] + "-bare"})

            async def bare_progress() -> int:
                return json.loads(http_get(bare.url + "/bench/progress")[1])["ticks"]

            b = await backlog_rounds(producer, topic, items(), args.ticks, args.chunk,
                                     bare.popen.pid, bare_progress, warmup=warmup)
        bare.stop()
        phases["ceiling_faust"] = b.as_dict()
        result["ceiling_faust_ticks_per_s"] = round(b.ticks_per_s)
        log(f"ceiling B: {phases['ceiling_faust']}")

    if not {"pipeline", "latency", "predict"} <= skip:
        pipeline_items = items()
        worker = stack.start_worker("worker")
        pid = worker.popen.pid

        async def pipeline_progress() -> int:
            """Ticks consumed. A message's scores, alerts and archive rows are made while it
            is processed, so at most the message in hand trails the count."""
            scraped = all_samples(worker.url + "/metrics", timeout=30.0)
            return int(sum(v for name in CONSUMED for _, v in scraped.get(name, [])))

        if "pipeline" not in skip:
            log(f"full pipeline over {args.ticks:,} ticks")
            async with feed.Producer(bootstrap) as producer:
                await producer.touch("ticks.raw")
                before: dict[str, float] = {}
                p = await backlog_rounds(producer, "ticks.raw", pipeline_items, args.ticks,
                                         args.chunk, pid, pipeline_progress, warmup=warmup,
                                         after_warmup=lambda: before.update(counters(worker.url)))
                after = counters(worker.url)
                if "profile" not in skip:
                    # a pass of its own, so py-spy's sampling is not in the figure above
                    ticks = max(args.ticks // 2, args.chunk)
                    log(f"the pipeline under py-spy over {ticks:,} more ticks")
                    out = args.out.parent / "pipeline-profile.txt"
                    out.parent.mkdir(parents=True, exist_ok=True)
                    spy = Proc("py-spy", profile.start(pid, out), tmp / "py-spy.log")
                    stack.procs.append(spy)
                    spied = await backlog_rounds(producer, "ticks.raw", pipeline_items, ticks,
                                                 args.chunk, pid, pipeline_progress, warmup=0)
                    spy.kill(signal.SIGINT)
                    spy.popen.wait(30)
                    phases["pipeline_under_py_spy"] = spied.as_dict()
                    result["profile"] = {"file": str(out), **profile.summarize(out)}
            phases["pipeline"] = p.as_dict()
            bars = after["volspike_windows_scored_total"] - before[
                "volspike_windows_scored_total"]
            phases["pipeline"]["bars_closed"] = int(bars)
            phases["pipeline"]["ticks_per_bar"] = round(p.ticks / bars, 2) if bars else None
            result["pipeline_ticks_per_s"] = round(p.ticks_per_s)
            log(f"pipeline: {phases['pipeline']}")
        if "latency" not in skip:
            rate, seconds = 1_000.0, 5.0 if args.quick else 30.0
            capacity = result.get("pipeline_ticks_per_s")
            if capacity and capacity < rate:
                # the backlog this rate builds (ticks, then scores) must stay well inside
                # the broker's ~5 MB per partition
                seconds = min(seconds, round(args.chunk / 2 / (rate - capacity), 1))
            log(f"latency at {rate:,.0f} ticks/s for {seconds:g} s")
            consumed = await pipeline_progress()
            lat = await closing_latency(bootstrap, pipeline_items, rate, seconds)
            phases["latency"] = lat
            result["latency_ms"] = lat
            if capacity and capacity < 2 * rate:
                # above capacity, latency is the growing queue: measure it below capacity too
                slow = round(capacity / 2)
                log(f"latency at {slow:,} ticks/s (half the measured capacity)")
                # first the worker works off the backlog the 1,000/s phase left
                await until(pipeline_progress, consumed + lat["ticks"], 300, 0.5)
                phases["latency_half_capacity"] = await closing_latency(
                    bootstrap, pipeline_items, slow, 5.0 if args.quick else 30.0)
                result["latency_half_capacity_ms"] = phases["latency_half_capacity"]
        if "predict" not in skip:
            from bench.predict import load

            seconds = 3.0 if args.quick else 30.0
            log(f"POST /predict at 200 req/s for {seconds:g} s")
            pred = await load(worker.url, 200.0, seconds, rows=1)
            pred["load_average"] = load_average()
            phases["predict"] = pred
            result["predict_ms"] = {q: pred[f"{q}_ms"] for q in ("p50", "p95", "p99", "max")}
        result["pipeline_counters"] = counters(worker.url)
        result["worker_peak_rss_mb"] = round(peak_rss_mb(pid) or 0, 1) or None
    return result


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message} (load {load_average()[0]})",
          file=sys.stderr, flush=True)


def _terminate(*_args) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    started = load_average()
    with tempfile.TemporaryDirectory(prefix="volspike-bench-") as name:
        tmp = Path(name)
        stack = Stack(tmp, f"sqlite:///{tmp / 'mlflow.db'}", tmp / "artifacts")
        throughput.set_fetch_max_wait(args.fetch_max_wait_ms)
        stack.env["VOLSPIKE_FETCH_MAX_WAIT_MS"] = str(args.fetch_max_wait_ms)
        try:
            result = asyncio.run(run(args, stack, tmp))
        except BaseException:
            keep = args.out.parent / "logs"
            keep.mkdir(parents=True, exist_ok=True)
            for path in tmp.glob("*.log"):
                shutil.copy(path, keep / path.name)
            print(f"failed: the processes' logs are in {keep}", file=sys.stderr)
            raise
        finally:
            stack.close()
    result.update({
        "command": "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_revision": git_revision(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
                   f"Python {platform.python_version()}",
        "load_average": {"start": started, "end": load_average()},
        "targets": {k: v[0] for k, v in report.TARGETS.items()},
    })
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(report.summary(result))
    if "profile" in result:
        print("functions that spend the most themselves (% of the worker's busy samples):")
        for frame, pct in result["profile"].get("self_pct", {}).items():
            print(f"  {pct:5.1f}%  {frame}")
    if args.write_docs:
        report.write_docs(ROOT / "docs" / "benchmarks.md", result)
    print(f"\nwritten: {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
