"""A side's predictions as the dask engine writes them: a folder of Parquet parts, read one part at a time.

The report never concatenates them. Counts (classes, confusion cells) are summed part by part, the
comparison joins the parts on row id in buckets on disk (report/join.py), and the charts that need rows
draw them from a seeded sample keyed by row id. A single predictions file is a DataFrame instead, and
`frames` yields it whole, so the counting helpers read both forms.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlgate.datasets.schema import ROW_ID
from mlgate.rowhash import REPORT_SAMPLE_STREAM, uniform

SAMPLE_ROWS = 200_000  # rows of a partitioned side the row-level charts are drawn from


@dataclass(frozen=True)
class PredictionParts:
    """The Parquet files of one side's partitioned predictions, in name order."""

    files: tuple[Path, ...]
    rows: int
    scratch: tempfile.TemporaryDirectory[str] | None = None  # keeps a copy read at a revision alive

    @classmethod
    def of(cls, folder: Path, scratch: tempfile.TemporaryDirectory[str] | None = None) -> PredictionParts:
        import pyarrow.parquet as pq

        files = tuple(sorted(path for path in folder.rglob("*.parquet") if path.is_file()))
        return cls(files, sum(pq.ParquetFile(path).metadata.num_rows for path in files), scratch)

    def frames(self, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
        for path in self.files:
            yield pd.read_parquet(path, columns=columns)

    @property
    def columns(self) -> list[str]:
        import pyarrow.parquet as pq

        return list(pq.read_schema(self.files[0]).names) if self.files else []

    def sample(self, rows: int = SAMPLE_ROWS) -> pd.DataFrame:
        """About `rows` rows, each kept by its id's hash, so the same rows on every read."""
        share = rows / max(self.rows, 1)
        kept = [f[uniform(f[ROW_ID].to_numpy(), 0, REPORT_SAMPLE_STREAM) < share] for f in self.frames()]
        return pd.concat(kept, ignore_index=True) if kept else pd.DataFrame()


def frames(predictions: Any, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
    """A side's predictions part by part: a DataFrame whole, a partitioned folder one part at a time."""
    if isinstance(predictions, PredictionParts):
        yield from predictions.frames(columns)
    elif predictions is not None:
        yield predictions if columns is None else predictions[columns]


def row_sample(predictions: Any) -> pd.DataFrame | None:
    """The rows the row-level charts read: all of a DataFrame, a seeded sample of a partitioned folder."""
    return predictions.sample() if isinstance(predictions, PredictionParts) else predictions


def row_count(predictions: Any) -> int:
    if isinstance(predictions, PredictionParts):
        return predictions.rows
    return 0 if predictions is None else len(predictions)


def column_names(predictions: Any) -> list[str]:
    if isinstance(predictions, PredictionParts):
        return predictions.columns
    return [] if predictions is None else list(predictions.columns)


@dataclass(frozen=True)
class ClassCounts:
    """How many test rows hold each class, and how many the model predicted as each, by value."""

    truth: Counter[Any]
    predicted: Counter[Any]


def class_counts(predictions: Any) -> ClassCounts | None:
    """Both counts, summed part by part; None without `target` and `prediction` columns."""
    if not {"target", "prediction"} <= set(column_names(predictions)):
        return None
    truth: Counter[Any] = Counter()
    predicted: Counter[Any] = Counter()
    for frame in frames(predictions, ["target", "prediction"]):
        for counter, column in ((truth, "target"), (predicted, "prediction")):
            found = frame[column].value_counts(dropna=False)
            counter.update(dict(zip(found.index.tolist(), found.tolist(), strict=True)))
    return ClassCounts(truth, predicted)


def confusion_cells(predictions: Any, labels: list[str]) -> list[list[int]] | None:
    """Counts of actual (rows) × predicted (columns) over `labels`, summed part by part."""
    from mlgate.metrics import class_indices

    if predictions is None:
        return None
    cells = np.zeros(len(labels) ** 2, dtype=np.int64)
    for frame in frames(predictions, ["target", "prediction"]):
        actual = class_indices(frame["target"], labels)
        predicted = class_indices(frame["prediction"], labels)
        keep = (actual >= 0) & (predicted >= 0)
        cells += np.bincount(actual[keep] * len(labels) + predicted[keep], minlength=len(labels) ** 2)
    return cells.reshape(len(labels), len(labels)).tolist()
