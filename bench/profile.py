"""py-spy on the pipeline worker during the throughput phase, and a summary by stage.

py-spy samples the worker from outside (`--nonblocking`: it never pauses the
worker), in its raw (collapsed stack) format; idle samples (waiting in
`select`, or stopped between rounds) are left out, so shares are of the
worker's busy time. `summarize` splits the busy time into the pipeline's
stages, per tick and per closed bar, and lists the functions that spend the
most themselves.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

#: (label, substrings of frames): each busy sample goes to the first label one of its frames
#: matches, so the shares add up to 100%. Order matters: the most specific stage first.
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("web requests (the benchmark's /metrics polling)",
     ("RequestHandler._handle_request", "metrics_handler", "generate_latest")),
    ("per bar: features compute (models/features.py)", ("compute (models/features.py",)),
    ("per bar: model predict (numpy trees or XGBoost)",
     ("predict (models/registry.py", "Scorer.predict", "inplace_predict", "models/trees.py")),
    ("per bar: table writes (bars, product_state) + changelog bookkeeping",
     ("WindowSet.__setitem__", "ManagedUserDict.__setitem__", "Store._set",
      "set_persisted_offset", "_on_changelog_sent", "_purge (agents/windows.py")),
    ("per bar: score send (producer.send, JSON)", ("Producer.send", "dumps")),
    ("per bar: alerts (agents/alerts.py)", ("agents/alerts.py",)),
    ("per bar: archive rows and live quality", ("agents/archive.py", "models/archive.py",
                                                "models/live.py")),
    ("per bar: rest of _scores/_publish/_close (score dicts, history, metrics)",
     ("_close (agents/windows.py", "_scores (agents/windows.py", "_publish (agents/windows.py")),
    ("per bar: producing records (aiokafka sender, accumulator, Faust producer buffer)",
     ("Sender.", "MessageAccumulator", "ProducerBuffer", "AIOKafkaProducer", "Topic._on_published",
      "SendProduceReqHandler")),
    ("per tick: parse (models/ticks.py)", ("parse (models/ticks.py", "_advanced_trade", "_exchange",
                                           "parse_time")),
    ("per tick: BarBuilder.feed", ("feed (models/bars.py", "Bar.add")),
    ("per tick: _release (acks)", ("_release (agents/windows.py",)),
    ("per tick: rest of on_event (metrics, state)", ("on_event (agents/windows.py",)),
    ("per message: Faust consumer/stream path (drain, conductor, events, acks)",
     ("Consumer._drain_messages", "Conductor", "Stream.", "create_event", "Event.ack",
      "Message.", "wait_first", "Fetcher._fetcher")),
    ("per message: aiokafka fetch and record decoding",
     ("aiokafka/consumer", "aiokafka/record", "AIOKafkaConnection._read", "_proc_fetch_request")),
    ("prometheus_client outside the above", ("prometheus_client",)),
    ("socket writes, caller cut off (produce requests, HTTP replies)",
     ("_SelectorSocketTransport.write",)),
    ("asyncio scheduling (leaf in asyncio)", ("asyncio/",)),
]


def binary() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise SystemExit("py-spy not found: pip install -e '.[bench]' (or --skip profile)")
    return found


def record_args(pid: int, out: Path, rate: int = 100) -> list[str]:
    return [binary(), "record", "--pid", str(pid), "--rate", str(rate), "--nonblocking",
            "--format", "raw", "--output", str(out)]


def start(pid: int, out: Path) -> subprocess.Popen:
    return subprocess.Popen(record_args(pid, out), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            start_new_session=True)


def read(path: Path) -> list[tuple[list[str], int]]:
    """(frames root first, samples) per distinct stack."""
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def summarize(path: Path, top: int = 15) -> dict:
    """Share of each category and the top self-time functions, in % of busy samples.

    `--nonblocking` reads the stacks while the worker runs, so some are cut
    short; they land in the first category their remaining frames match.
    """
    everything = read(path)
    # py-spy's idle test does not catch every wait: drop the ones in the selector too
    stacks = [(f, n) for f, n in everything if "select (selectors.py" not in f[-1]]
    total = sum(n for _, n in stacks)
    if not total:
        return {"samples": 0}
    shares: Counter = Counter()
    leaves: Counter = Counter()
    for frames, n in stacks:
        leaves[frames[-1]] += n
        label = next((label for label, needles in CATEGORIES
                      if any(needle in f for f in frames for needle in needles)), "other")
        shares[label] += n
    return {
        "samples": total,
        "waiting_in_select_pct": round(100 * (1 - total / sum(n for _, n in everything)), 1),
        "categories_pct": {label: round(100 * shares[label] / total, 1)
                           for label in [c[0] for c in CATEGORIES] + ["other"]},
        "self_pct": {f: round(100 * n / total, 1) for f, n in leaves.most_common(top)},
    }
