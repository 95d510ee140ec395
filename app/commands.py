"""Custom CLI commands beside Faust's own (`python -m app --help` lists them)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click
from faust.cli import argument, option
from faust.cli.base import cli

from app.core import app
from app.settings import settings

log = logging.getLogger("volspike")
SIMULATED_SEARCH_SECONDS = 5.0


def _emit(result: dict) -> None:
    """The machine-readable result: always the last line on stdout."""
    sys.stdout.flush()
    print(json.dumps(result, sort_keys=True, default=float), flush=True)


# `broker` and `run` supervise processes and own their signals, so they are plain
# click commands: Faust's command runner would wrap them in a worker of its own.
@cli.command(help="Run the embedded Kafka-compatible broker on 127.0.0.1.")
def broker() -> None:
    from app.broker import serve

    serve(settings.data_dir)


@app.command(
    argument("paths", nargs=-1, required=True, type=Path),
    option("--speed", type=float, default=1.0, show_default=True,
           help="Event time per wall second."),
    option("--max", "max_speed", is_flag=True, help="As fast as possible."),
)
async def replay(self, paths: tuple[Path, ...], speed: float, max_speed: bool) -> None:
    """Replay NDJSON recordings into ticks.raw, keeping event time."""
    from app.replay import replay as run

    if not max_speed and speed <= 0:
        raise SystemExit("--speed must be positive")
    counts = await run(list(paths), None if max_speed else speed)
    _emit(counts)


@app.command(
    option("--products", default=",".join(settings.products), show_default=True),
    option("--seed", type=int, default=7, show_default=True),
    option("--seconds", type=int, default=None, help="Stop after this much event time."),
    option("--start", type=float, default=None, help="First event time (epoch s); default now."),
    option("--speed", type=float, default=1.0, show_default=True),
    option("--max", "max_speed", is_flag=True, help="As fast as possible."),
    option("--vol-scale", type=float, default=1.0, show_default=True),
    option("--output", type=Path, default=None, help="Write NDJSON here instead of the broker."),
)
async def simulate(
    self, products: str, seed: int, seconds: int | None, start: float | None, speed: float,
    max_speed: bool, vol_scale: float, output: Path | None,
) -> None:
    """Feed the seeded synthetic market (Advanced Trade format)."""
    from app.simulate import simulate_to_broker, simulate_to_file
    from models.simulator import Market

    market = Market(_products(products), seed=seed, start=start, vol_scale=vol_scale)
    if output is not None:
        if seconds is None:
            raise SystemExit("--output needs --seconds")
        _emit({"messages": simulate_to_file(market, output, seconds), "output": str(output)})
        return
    counts = await simulate_to_broker(
        market, seconds, None if max_speed else speed
    )
    _emit(counts)


@app.command(
    option("--products", default=",".join(settings.products), show_default=True),
    option("--record", type=Path, default=None, help="Also append every raw message here."),
    option("--fallback-after", type=float, default=0.0,
           help="Simulate instead when the feed is not reached within this many seconds."),
    option("--url", default=settings.coinbase_ws_url, show_default=True),
)
async def ingest(self, products: str, record: Path | None, fallback_after: float, url: str) -> None:
    """Stream the live Coinbase feed into ticks.raw."""
    from app.ingest import ingest as run

    _log_ours_at_info()
    await run(
        url, _products(products),
        heartbeat_timeout=settings.heartbeat_timeout, record=record,
        fallback_after=fallback_after,
    )


def _frame(paths: list[Path], simulated: int = 0):
    """Feature rows of recordings, archives (files or folders) or the simulator, with progress."""
    from tqdm import tqdm

    from models import archive, dataset

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise SystemExit(f"no such recording: {', '.join(missing)}")
    archives = [p for p in paths if archive.is_archive(p)]
    recordings = [p for p in paths if p not in archives]
    stats = dataset.ReadStats()
    bars: dict = {}
    sources = [f"archive:{p}" for p in archives]
    if recordings or not archives:
        messages, total, source = _messages(recordings, simulated)
        ticks = dataset.iter_ticks(tqdm(messages, total=total, unit="msg", desc="features",
                                        file=sys.stderr), stats)
        bars = dataset.build_bars(ticks)
        sources.insert(0, source)
    if archives:
        bars = dataset.merge_bars(bars, dataset.archive_bars(archives))
    frame = dataset.feature_frame(bars)
    _progress(f"{stats.messages} messages, {stats.ticks} ticks, {len(frame)} windows")
    if frame.empty:
        raise SystemExit(f"no windows: rejected messages {dict(stats.rejected)}")
    return frame, ",".join(sources)


def _messages(paths: list[Path], simulated: int):
    """(raw messages, their count if known, source name) of recordings or the simulator."""
    from models import dataset
    from models.simulator import Market

    if not paths:
        market = Market(start=1.7e9, seed=11)
        return (raw for _t, _p, raw in market.messages(simulated)), None, f"simulator:{simulated}s"
    files = dataset.recordings(paths)
    if not files:
        raise SystemExit(f"no .ndjson recordings in {', '.join(map(str, paths))}")
    total = sum(1 for f in files for _ in open(f, "rb"))
    return dataset.iter_messages(files), total, ",".join(f.name for f in files)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _configure_registry(tracking_uri: str | None) -> None:
    from models import registry

    registry.configure(tracking_uri or settings.mlflow_tracking_uri, settings.mlflow_artifacts)


@app.command(
    option("--data", "data", multiple=True, type=Path,
           help="Recording, folder of recordings or Parquet archive (repeatable)."),
    argument("more", nargs=-1, type=Path),
    option("--tracking-uri", default=None, help="MLflow tracking URI (default from settings)."),
    option("--simulated", type=int, default=0, help="Train on this many simulated seconds."),
    option("--label-quantile", type=float, default=0.9, show_default=True),
    option("--search-seconds", type=float, default=settings.search_seconds, show_default=True,
           help="Time budget of the hyperparameter search."),
    option("--walk-forward", is_flag=True,
           help="Also measure walk-forward (earlier → later periods) for the model card."),
)
async def train(
    self, data: tuple[Path, ...], more: tuple[Path, ...], tracking_uri: str | None,
    simulated: int, label_quantile: float, search_seconds: float, walk_forward: bool,
) -> None:
    """Fit XGBoost on recordings; register it as volspike-xgb, @champion if it beats it."""
    from models import train as trainer
    from models import walkforward

    paths = [*data, *more]
    if not paths and not simulated:
        raise SystemExit("give recordings with --data PATH… or --simulated SECONDS")
    frame, source = _frame(paths, simulated)
    # the bootstrap model of `make run` must be quick; the simulator has one regime anyway
    options = _options(label_quantile, min(search_seconds, SIMULATED_SEARCH_SECONDS)
                       if simulated else search_seconds)
    table = None
    if walk_forward:
        table = walkforward.table(walkforward.run(frame, options, _progress))
        _progress(table)
    _configure_registry(tracking_uri)
    result = trainer.train(frame, options, source=source, progress=_progress,
                           walkforward=table, command=_command_line())
    _emit(result)


def _options(label_quantile: float, search_seconds: float):
    from models import train as trainer

    return trainer.Options(
        label_quantile=label_quantile, target_precision=settings.target_precision,
        target_alert_rate=settings.target_alert_rate, search_seconds=search_seconds,
    )


def _command_line() -> str:
    return " ".join(["python -m app", *sys.argv[1:]])


@app.command(
    option("--data", "data", multiple=True, type=Path,
           help="Recording, folder of recordings or Parquet archive (repeatable)."),
    argument("more", nargs=-1, type=Path),
    option("--model", "model_uri", default=None,
           help="models:/NAME@ALIAS or models:/NAME/VERSION (default: the champion)."),
    option("--tracking-uri", default=None, help="MLflow tracking URI (default from settings)."),
    option("--label-quantile", type=float, default=None,
           help="τ = this quantile of the evaluated rows (default: the model's stored τ)."),
)
async def evaluate(
    self, data: tuple[Path, ...], more: tuple[Path, ...], model_uri: str | None,
    tracking_uri: str | None, label_quantile: float | None,
) -> None:
    """Score recordings with a registered model and both baselines; compare them."""
    from models import registry
    from models.evaluate import evaluate as run

    paths = [*data, *more]
    if not paths:
        raise SystemExit("give recordings with --data PATH…")
    frame, _source = _frame(paths)
    _configure_registry(tracking_uri)
    uri = model_uri or f"models:/{registry.MODEL_NAME}@{registry.CHAMPION}"
    try:
        model = registry.check(registry.load_uri(uri))
        result = run(frame, model, label_quantile)
    except (ValueError, registry.Refused) as exc:
        raise SystemExit(str(exc)) from None
    _emit({**result, "model_uri": uri})


@app.command(
    argument("version"),
    option("--tracking-uri", default=None, help="MLflow tracking URI (default from settings)."),
)
async def promote(self, version: str, tracking_uri: str | None) -> None:
    """Move volspike-xgb@champion to VERSION; running workers pick it up on their next poll."""
    from mlflow.exceptions import MlflowException

    from models import registry

    _configure_registry(tracking_uri)
    try:
        previous = registry.promote(version)
    except MlflowException as exc:
        raise SystemExit(f"cannot promote version {version}: {exc.message}") from None
    _emit({"model": registry.MODEL_NAME, "alias": registry.CHAMPION, "model_version": version,
           "previous": previous})


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(raw: str) -> float:
    """Seconds of `90s`, `30m`, `2h`, `1d` or a plain number of seconds."""
    unit = DURATION_UNITS.get(raw[-1:].lower())
    try:
        value = float(raw[:-1] if unit else raw) * (unit or 1)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise SystemExit(f"{raw!r} is neither an existing path nor a duration like 30m")
    return value


def _recent_archive(root: Path, window: float) -> tuple[float, int]:
    """(since, newest window end) of the archive's most recent `window` seconds."""
    from models import archive

    newest = archive.newest_window_end(root)
    if newest is None:
        raise SystemExit(f"no archived windows in {root}")
    return newest - window, newest


@app.command(
    option("--reference", default=None,
           help="MLflow run id, or Parquet feature rows (file, folder or archive). "
                "Default: the champion's training profile."),
    option("--current", default=None,
           help="Parquet feature rows (file, folder or archive), or a duration (90s, 30m, 2h, "
                "1d) of the archive's newest event time. Default: VOLSPIKE_DRIFT_WINDOW_SECONDS."),
    option("--archive", "archive_dir", type=Path, default=settings.archive_dir,
           show_default=True),
    option("--output", type=Path, default=settings.data_dir / "drift", show_default=True,
           help="Folder for the HTML report and the JSON summary."),
    option("--tracking-uri", default=None, help="MLflow tracking URI (default from settings)."),
)
async def drift(
    self, reference: str | None, current: str | None, archive_dir: Path, output: Path,
    tracking_uri: str | None,
) -> None:
    """Evidently drift report of live features against the training reference."""
    import time

    from models import archive, registry
    from models import drift as checker

    if reference is not None and Path(reference).exists():
        ref, ref_source = checker.read_rows(Path(reference)), reference
    else:
        _configure_registry(tracking_uri)
        run_id = reference
        if run_id is None:
            champion = registry.alias_version()
            if champion is None:
                raise SystemExit(f"no {registry.MODEL_NAME}@{registry.CHAMPION}: give --reference")
            run_id = registry.run_id(champion)
        ref, ref_source = checker.load_reference(run_id), f"runs:/{run_id}"
        if ref is None:
            raise SystemExit(f"run {run_id} has no {checker.REFERENCE_ARTIFACT} (trained before "
                             f"the archive?) and is no Parquet path")
    if current is not None and Path(current).exists():
        cur, cur_source = checker.read_rows(Path(current)), current
    else:
        window = settings.drift_window_seconds if current is None else _duration(current)
        since, newest = _recent_archive(archive_dir, window)
        cur, cur_source = archive.read(archive_dir, since=since), f"{archive_dir}[{since},{newest}]"
    try:
        result = checker.check(ref, cur, settings.drift_threshold, settings.drift_share)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    html, summary = output / f"drift-{stamp}.html", output / f"drift-{stamp}.json"
    result.write(html, summary)
    _progress(f"report: {html}")
    _emit({**result.summary, "reference": ref_source, "current": cur_source,
           "html": str(html), "json": str(summary)})


@app.command(
    option("--archive", "archive_dir", type=Path, default=settings.archive_dir,
           show_default=True),
    option("--window", default=None,
           help="How much of the archive's newest event time to train on (90m, 12h, 2d). "
                "Default: VOLSPIKE_RETRAIN_WINDOW_SECONDS."),
    option("--tracking-uri", default=None, help="MLflow tracking URI (default from settings)."),
    option("--label-quantile", type=float, default=0.9, show_default=True),
    option("--search-seconds", type=float, default=settings.search_seconds, show_default=True),
)
async def retrain(
    self, archive_dir: Path, window: str | None, tracking_uri: str | None,
    label_quantile: float, search_seconds: float,
) -> None:
    """Train on the archive's most recent window; the promotion rule picks the alias."""
    from models import dataset
    from models import train as trainer

    seconds = settings.retrain_window_seconds if window is None else _duration(window)
    since, newest = _recent_archive(archive_dir, seconds)
    frame = dataset.feature_frame(dataset.archive_bars([archive_dir], since=since))
    _progress(f"{len(frame)} archived windows from {since:.0f} to {newest}")
    _configure_registry(tracking_uri)
    source = f"archive:{archive_dir}[{since:.0f},{newest}]"
    try:
        result = trainer.train(frame, _options(label_quantile, search_seconds), source=source,
                               progress=_progress, command=_command_line())
    except ValueError as exc:
        raise SystemExit(f"cannot retrain: {exc}") from None
    _emit(result)


@cli.command(help="Start broker, bootstrap model, worker and ingester; Ctrl-C stops them all.")
@click.option("--simulator-after", type=float, default=10.0, show_default=True,
              help="Feed the simulator when Coinbase is not reached within this many seconds.")
def run(simulator_after: float) -> None:
    from app.supervisor import run_stack

    run_stack(simulator_after=simulator_after)


def _log_ours_at_info() -> None:
    """Show volspike's INFO lines (connections, fallbacks); other libraries stay at -l."""
    logging.getLogger("volspike").setLevel(logging.INFO)
    for handler in logging.root.handlers:
        handler.setLevel(logging.NOTSET)


def _products(raw: str) -> list[str]:
    products = [p.strip() for p in raw.split(",") if p.strip()]
    if not products:
        raise SystemExit("--products is empty")
    return products




@app.command(
    option("--follow", "-f", is_flag=True, help="Keep printing new alerts."),
    option("--product", default=None, help="Only this product's alerts."),
)
async def alerts(self, follow: bool, product: str | None) -> None:
    """Print the alerts topic as a table (each alert once, oldest first)."""
    from app.alertfeed import print_alerts

    await print_alerts(settings.bootstrap_servers, product, follow)
