"""The Parquet archive of closed bars, feature vectors and scores.

Layout: `<root>/date=YYYY-MM-DD/product=ID/<first window end>-<uuid>.parquet`
(hive partitioning, so `pandas.read_parquet(root)` and Spark read it as is).
One row per scored window; the full bar is kept (`bar_*` columns), so
training from the archive recomputes exactly the features and labels that
training from the recording would.

A file is written under a `.`-prefixed temporary name, fsynced and renamed
into place: readers (pyarrow ignores `.` and `_` files) never see half a file,
whatever kills the writer. Delivery is at-least-once, so a window may appear
in two files; `read` keeps one row per `id`.
"""

from __future__ import annotations

import os
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import fields
from datetime import UTC, datetime
from functools import cache
from operator import itemgetter
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from models.bars import Bar
from models.features import FEATURES

TEMP_PREFIX = "."
TEMP_SUFFIX = ".tmp"
#: Bar fields stored as `bar_<name>`; product and start are the partition and window_start.
BAR_FIELDS = tuple(f.name for f in fields(Bar) if f.name not in ("product", "start"))
_INT_BAR_FIELDS = {"ticks", "trades", "quotes"}

SCHEMA = pa.schema([
    ("id", pa.string()),
    ("window_start", pa.int64()),
    ("window_end", pa.int64()),
    ("probability", pa.float64()),
    ("threshold", pa.float64()),
    ("model_name", pa.string()),
    ("model_version", pa.string()),
    *[(name, pa.float64()) for name in FEATURES],
    *[(f"bar_{name}", pa.int64() if name in _INT_BAR_FIELDS else pa.float64())
      for name in BAR_FIELDS],
])


#: Parquet encoding options: dictionaries only where values repeat (not the unique ids or
#: the float features), statistics only on the window columns that readers filter on;
#: each file is encoded in a third of the time the defaults take
WRITE_OPTIONS = {"compression": "zstd",
                 "use_dictionary": ["model_name", "model_version", "threshold"],
                 "write_statistics": ["window_start", "window_end"]}

#: a row as `row` makes it: the product, then SCHEMA's columns in order
ROW = ("product", *SCHEMA.names)
_features = itemgetter(*FEATURES)
_bar = itemgetter(*BAR_FIELDS)


def row(score: dict) -> tuple:
    """One archive row (ROW order) from a Score message as a dict: a flat tuple, because
    the worker makes one per window and the writer transposes them to columns."""
    return (score["product"], score["id"], score["window_start"], score["window_end"],
            score["probability"], score["threshold"], score["model_name"],
            score["model_version"], *_features(score["features"]), *_bar(score["bar"]))


@cache
def partition(product: str, day: int) -> str:
    """The folder of a product's rows of one UTC day (days since the epoch)."""
    return f"date={datetime.fromtimestamp(day * 86400, UTC):%Y-%m-%d}/product={product}"


def write(root: Path, rows: Iterable[tuple]) -> list[Path]:
    """Write rows as one complete file per (date, product); returns the final paths."""
    end = ROW.index("window_end")
    groups: dict[str, list[tuple]] = defaultdict(list)
    for item in rows:
        groups[partition(item[0], item[end] // 86400)].append(item)
    written = []
    for folder, items in sorted(groups.items()):
        columns = list(zip(*items, strict=True))[1:]
        arrays = [pa.array(values, type=column.type)
                  for values, column in zip(columns, SCHEMA, strict=True)]
        table = pa.Table.from_arrays(arrays, schema=SCHEMA)
        name = f"{items[0][end]}-{uuid.uuid4().hex[:12]}.parquet"
        written.append(commit_table(table, root / folder / name))
    return written


def commit_table(table: pa.Table, final: Path, row_group_size: int | None = None) -> Path:
    """Write `table` to a temporary file beside `final`, fsync it, rename it into place."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path(final)
    try:
        with open(temp, "wb") as fh:
            pq.write_table(table, fh, row_group_size=row_group_size, **WRITE_OPTIONS)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)  # a failed write leaves nothing behind (kill -9 may)
        raise
    os.replace(temp, final)
    _fsync_dir(final.parent)
    return final


def temp_path(final: Path) -> Path:
    return final.with_name(f"{TEMP_PREFIX}{final.name}{TEMP_SUFFIX}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def files(root: Path) -> list[Path]:
    """The complete files of the archive (temporary ones are never listed)."""
    return sorted(p for p in Path(root).glob("date=*/product=*/*.parquet")
                  if not p.name.startswith((TEMP_PREFIX, "_")))


def is_archive(path: Path) -> bool:
    path = Path(path)
    return path.is_dir() and any(path.glob("date=*/product=*"))


def read(root: Path, since: float | None = None, until: float | None = None) -> pd.DataFrame:
    """Rows with window_end in [since, until), one per id, ordered by window end and product."""
    found = files(root)
    if not found:
        return pd.DataFrame(columns=["product", *SCHEMA.names])
    dataset = ds.dataset([str(p) for p in found], format="parquet", schema=SCHEMA)
    condition = None
    if since is not None:
        condition = ds.field("window_end") >= since
    if until is not None:
        upper = ds.field("window_end") < until
        condition = upper if condition is None else condition & upper
    frame = dataset.to_table(filter=condition).to_pandas()
    frame.insert(0, "product", frame["id"].str.rsplit(":", n=1).str[0])
    frame = frame.drop_duplicates("id", keep="last")
    return frame.sort_values(["window_end", "product"], kind="stable").reset_index(drop=True)


def newest_window_end(root: Path) -> int | None:
    """The newest window end in the archive, from the files' footers' statistics."""
    newest = None
    for path in files(root):
        meta = pq.ParquetFile(path).metadata
        index = meta.schema.to_arrow_schema().get_field_index("window_end")
        for i in range(meta.num_row_groups):
            stats = meta.row_group(i).column(index).statistics
            if stats is not None and stats.has_min_max:
                newest = stats.max if newest is None else max(newest, stats.max)
    return None if newest is None else int(newest)


def bars(frame: pd.DataFrame) -> dict[str, list[Bar]]:
    """The archived rows as closed bars per product, oldest first."""
    out: dict[str, list[Bar]] = {}
    columns = [f"bar_{name}" for name in BAR_FIELDS]
    for product, rows in frame.sort_values("window_start", kind="stable").groupby(
            "product", sort=True):
        starts = rows["window_start"].tolist()
        values = zip(*(rows[c].tolist() for c in columns), strict=True)
        out[str(product)] = [
            Bar(str(product), int(start), **dict(zip(BAR_FIELDS, vals, strict=True)))
            for start, vals in zip(starts, values, strict=True)
        ]
    return out
