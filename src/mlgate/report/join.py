"""The paired comparison's join on row id, out of core: a grace hash join over buckets on disk.

Each side's rows are spread over `count` bucket files by a hash of their row id, one part at a time, so
a row lands in the same bucket on both sides. Each pair of buckets is then joined in memory; about
BUCKET_ROWS rows of a side are in memory at once, whatever the size of the test sets. The shared rows of
each bucket are written back aligned (the base's rows in the PR's order), for the passes that score them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlgate.datasets.schema import ROW_ID
from mlgate.report.parts import frames, row_count
from mlgate.rowhash import JOIN_STREAM, uniform

BUCKET_ROWS = 500_000


@dataclass(frozen=True)
class Joined:
    """The two test sets' row counts, the rows they share, and those rows bucket by bucket on disk."""

    base_rows: int
    head_rows: int
    shared: int
    unique: bool  # False when a side repeats a row id: its rows cannot be paired
    buckets: tuple[tuple[Path, Path], ...]  # (base, head) files of each bucket's shared rows, aligned

    def pairs(self) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
        """Each bucket's shared rows, the base's and the PR's, row for row."""
        for base, head in self.buckets:
            yield pd.read_parquet(base), pd.read_parquet(head)


def _bucket_of(frame: pd.DataFrame, count: int) -> np.ndarray:
    draw = uniform(frame[ROW_ID].to_numpy(), 0, JOIN_STREAM)
    return np.minimum((draw * count).astype(np.int64), count - 1)


def scatter(predictions: Any, count: int, folder: Path) -> list[Path]:
    """Write a side's rows into `count` bucket files by their row id's hash; a bucket no row reached has
    no file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"bucket.{number:05d}.parquet" for number in range(count)]
    writers: dict[int, Any] = {}
    try:
        for frame in frames(predictions):
            bucket = _bucket_of(frame, count)
            order = np.argsort(bucket, kind="stable")
            table = pa.Table.from_pandas(frame.iloc[order], preserve_index=False)
            bounds = np.searchsorted(bucket[order], np.arange(count + 1))
            for number in map(int, np.flatnonzero(np.diff(bounds))):
                part = table.slice(bounds[number], bounds[number + 1] - bounds[number])
                if number not in writers:
                    writers[number] = pq.ParquetWriter(paths[number], part.schema)
                writers[number].write_table(part.cast(writers[number].schema))
    finally:
        for writer in writers.values():
            writer.close()
    return paths


def _read(path: Path) -> pd.DataFrame | None:
    return pd.read_parquet(path) if path.is_file() else None


def _join_bucket(base: Path, head: Path, out: tuple[Path, Path]) -> int | None:
    """Join one bucket pair, writing the shared rows aligned to `out`; None when a side repeats an id."""
    b, h = _read(base), _read(head)
    if any(side is not None and side[ROW_ID].duplicated().any() for side in (b, h)):
        return None
    if b is None or h is None:
        return 0
    shared = h[h[ROW_ID].isin(b[ROW_ID])].reset_index(drop=True)
    if len(shared):
        aligned = b.set_index(ROW_ID).loc[shared[ROW_ID]].reset_index()
        aligned.to_parquet(out[0], index=False)
        shared.to_parquet(out[1], index=False)
    return len(shared)


def join_on_row_id(base: Any, head: Any, folder: Path, bucket_rows: int = BUCKET_ROWS) -> Joined:
    """Join the two sides' predictions on row id through bucket files under `folder`."""
    base_rows, head_rows = row_count(base), row_count(head)
    count = max(1, math.ceil(max(base_rows, head_rows) / bucket_rows))
    base_files = scatter(base, count, folder / "base")
    head_files = scatter(head, count, folder / "head")
    shared, buckets = 0, []
    for number, (b, h) in enumerate(zip(base_files, head_files, strict=True)):
        out = (folder / f"shared-base.{number:05d}.parquet", folder / f"shared-head.{number:05d}.parquet")
        found = _join_bucket(b, h, out)
        if found is None:
            return Joined(base_rows, head_rows, 0, False, ())
        if found:
            shared += found
            buckets.append(out)
    return Joined(base_rows, head_rows, shared, True, tuple(buckets))
