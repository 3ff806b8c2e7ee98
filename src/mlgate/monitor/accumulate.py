"""Per-feature counters filled chunk by chunk: bin counts, category counts, nulls, unparseable values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

OTHER = "__other__"


def numeric_values(column: pa.ChunkedArray) -> tuple[np.ndarray, int]:
    """The column as floats (NaN for nulls) and the number of values that are not numbers."""
    kind = column.type
    if (
        pa.types.is_floating(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_decimal(kind)
    ):
        return column.to_numpy().astype(float, copy=False), 0
    text = pc.cast(column, pa.string())
    try:
        return pc.cast(text, pa.float64()).to_numpy().astype(float, copy=False), 0
    except pa.ArrowInvalid:
        import pandas as pd

        raw = text.to_pandas()
        parsed = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        invalid = int((np.isnan(parsed) & raw.notna().to_numpy() & (raw.str.strip() != "").to_numpy()).sum())
        return parsed, invalid


def text_values(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """The column as text, spelled the way the data stage spells categories (pandas `astype(str)`)."""
    if pa.types.is_boolean(column.type):
        return pc.if_else(column, "True", "False")
    if pa.types.is_floating(column.type):  # pyarrow writes 1.0 as "1", pandas as "1.0"
        series = column.to_pandas()
        return pa.chunked_array([pa.array(series.astype(str).where(series.notna()), pa.string())])
    return pc.cast(column, pa.string())


@dataclass
class NumericCounter:
    """Current counts over the reference's quantile bins, plus nulls and summary stats."""

    edges: np.ndarray
    counts: np.ndarray = field(init=False)
    rows: int = 0
    nulls: int = 0
    invalid: int = 0
    total: float = 0.0
    squares: float = 0.0

    def __post_init__(self) -> None:
        self.counts = np.zeros(len(self.edges) + 1, dtype=np.int64)

    def add(self, column: pa.ChunkedArray) -> None:
        values, invalid = numeric_values(column)
        present = values[~np.isnan(values)]
        self.rows += len(values)
        self.invalid += invalid
        self.nulls += len(values) - len(present) - invalid
        self.counts += np.bincount(
            np.searchsorted(self.edges, present, side="right"), minlength=len(self.counts)
        )
        self.total += float(present.sum())
        self.squares += float(np.square(present).sum())

    def merge(self, other: NumericCounter) -> NumericCounter:
        """This counter and another over the same edges, added up (one per file on the dask engine)."""
        merged = NumericCounter(self.edges)
        merged.counts = self.counts + other.counts
        merged.rows, merged.nulls = self.rows + other.rows, self.nulls + other.nulls
        merged.invalid = self.invalid + other.invalid
        merged.total, merged.squares = self.total + other.total, self.squares + other.squares
        return merged

    def summary(self) -> dict[str, Any]:
        present = int(self.counts.sum())
        mean = self.total / present if present else float("nan")
        variance = self.squares / present - mean**2 if present else float("nan")
        return {"mean": mean, "std": float(np.sqrt(max(variance, 0.0)))}


@dataclass
class CategoricalCounter:
    """Current counts per reference category, pooled like the reference, and unseen categories."""

    categories: list[str]
    counts: dict[str, int] = field(default_factory=dict)
    rows: int = 0
    nulls: int = 0

    def add(self, column: pa.ChunkedArray) -> None:
        self.rows += len(column)
        self.nulls += column.null_count
        for item in pc.value_counts(text_values(column).drop_null()).to_pylist():
            self.counts[item["values"]] = self.counts.get(item["values"], 0) + int(item["counts"])

    def merge(self, other: CategoricalCounter) -> CategoricalCounter:
        """This counter and another of the same feature, added up."""
        counts = dict(self.counts)
        for key, count in other.counts.items():
            counts[key] = counts.get(key, 0) + count
        return CategoricalCounter(self.categories, counts, self.rows + other.rows, self.nulls + other.nulls)

    def unseen(self) -> dict[str, int]:
        """Categories the reference never saw; none can be told apart when it pooled rare ones."""
        if OTHER in self.categories:
            return {}
        return {
            k: v for k, v in sorted(self.counts.items(), key=lambda kv: -kv[1]) if k not in self.categories
        }

    def binned(self) -> np.ndarray:
        """Counts in the reference's category order, then one bin for everything else."""
        known = set(self.categories)
        elsewhere = sum(v for k, v in self.counts.items() if k not in known)
        if OTHER in known:
            return np.array(
                [self.counts.get(c, 0) + (elsewhere if c == OTHER else 0) for c in self.categories] + [0]
            )
        return np.array([self.counts.get(c, 0) for c in self.categories] + [elsewhere])


def make_counter(profile: dict[str, Any]) -> NumericCounter | CategoricalCounter:
    """The counter that matches one feature's reference profile."""
    if profile["kind"] == "numeric":
        return NumericCounter(np.asarray(profile["edges"], dtype=float))
    return CategoricalCounter(list(profile["counts"]))


def reference_bins(profile: dict[str, Any]) -> np.ndarray:
    """The reference counts laid out like the counter's `counts` / `binned()`."""
    if profile["kind"] == "numeric":
        return np.asarray(profile["counts"], dtype=float)
    return np.array([*profile["counts"].values(), 0], dtype=float)
