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


def sketch(values: np.ndarray) -> Sketch:
    """The sketch of one partition's values."""
    clean = np.sort(values[~np.isnan(values)])
    if clean.size == 0:
        return Sketch(0, clean, clean)
    distinct = np.unique(clean)
    quantiles = np.quantile(clean, np.linspace(0.0, 1.0, GRID))
    return Sketch(clean.size, quantiles, distinct if distinct.size <= MAX_DISTINCT else None)


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
    """The most a merged quantile's rank can be off, as a fraction of the rows."""
    total = sum(s.rows for s in sketches)
    return sum(max(s.rows / (GRID - 1), 1.0) for s in sketches if s.rows) / total if total else 0.0
