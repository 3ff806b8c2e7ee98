"""Mergeable summaries of a numeric column: a quantile sketch per partition, merged on the client.

Each partition keeps its exact quantiles at `GRID` evenly spaced ranks (and its distinct values, when
there are few). Merged, the partitions' quantile functions give the mixture's CDF; a quantile read from
it is off by at most `RANK_ERROR` of the rows in rank. The counts binned at the edges found this way
are exact: only where the edges fall is approximate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID = 2049
MAX_DISTINCT = 4096


@dataclass(frozen=True)
class Sketch:
    """One partition's quantiles (and distinct values when at most MAX_DISTINCT), NaN left out."""

    rows: int
    quantiles: np.ndarray
    distinct: np.ndarray | None
    error: float = 0.0  # how far in rank (a share of `rows`) a quantile read from it can be off


def sketch(values: np.ndarray, distinct: bool = True) -> Sketch:
    """The sketch of one partition's values; with `distinct`, also its distinct values when few."""
    clean = np.sort(values[~np.isnan(values)])
    if clean.size == 0:
        return Sketch(0, clean, clean)
    quantiles = np.quantile(clean, np.linspace(0.0, 1.0, GRID))
    error = max(1.0 / (GRID - 1), 1.0 / clean.size)
    if not distinct:
        return Sketch(clean.size, quantiles, None, error)
    found = clean[np.r_[True, clean[1:] != clean[:-1]]]  # sorted already: no second sort
    return Sketch(clean.size, quantiles, found if found.size <= MAX_DISTINCT else None, error)


def merge_sketches(a: Sketch, b: Sketch) -> Sketch:
    """Two sketches as one of the same size, so that merging many on the cluster stays small; each merge
    adds 1/(GRID - 1) to the rank error."""
    if not (a.rows and b.rows):
        return a if a.rows else b
    both = [a, b]
    distinct = distinct_values(both)
    grid = quantiles(both, np.linspace(0.0, 1.0, GRID))
    return Sketch(a.rows + b.rows, grid, distinct, rank_error(both) + 1.0 / (GRID - 1))


def distinct_values(sketches: list[Sketch]) -> np.ndarray | None:
    """Every distinct value across the partitions, when that is at most MAX_DISTINCT values."""
    if any(s.distinct is None for s in sketches):
        return None
    parts = [s.distinct for s in sketches if s.distinct is not None]
    merged = np.unique(np.concatenate(parts)) if parts else np.array([])
    return merged if merged.size <= MAX_DISTINCT else None


def quantiles(sketches: list[Sketch], ranks: np.ndarray) -> np.ndarray:
    """The merged data's quantiles at `ranks` (in [0, 1]), within RANK_ERROR in rank."""
    filled = [s for s in sketches if s.rows]
    if not filled:
        return np.array([])
    grid = np.linspace(0.0, 1.0, GRID)
    points = np.unique(np.concatenate([s.quantiles for s in filled]))
    total = sum(s.rows for s in filled)
    cdf = sum(s.rows * np.interp(points, s.quantiles, grid, left=0.0, right=1.0) for s in filled) / total
    return np.interp(ranks, np.maximum.accumulate(cdf), points)


def bin_edges(sketches: list[Sketch], bins: int) -> np.ndarray:
    """Inner edges of `bins` quantile bins, deduplicated, as the data stage's profile stores them."""
    return np.unique(quantiles(sketches, np.linspace(0, 1, bins + 1)[1:-1]))


def rank_error(sketches: list[Sketch]) -> float:
    """The most a quantile read from these sketches together can be off in rank, as a share of the rows."""
    total = sum(s.rows for s in sketches)
    return sum(s.rows * s.error for s in sketches) / total if total else 0.0
