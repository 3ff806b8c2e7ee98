"""Δ out of core, when a side's predictions are a partitioned folder (the dask engine's).

It is the in-memory comparison of report/compare.py, computed part by part:
- paired or unpaired by the same rule, the shared rows found by the join on row id (report/join.py);
- each side's point values merged from per-part sums (mlgate.cluster.metrics), roc_auc from score
  histograms with its error bound (exact when a side has at most 4,096 distinct scores);
- the resamples drawn from the rows the in-memory comparison draws from (compare.in_subset), gathered
  part by part: a Poisson subset of about SUBSAMPLE_ROWS rows, so memory does not grow with the test set.

The CIs and p-values therefore equal the in-memory comparison's, and the point Δ agree with it within
roc_auc's bound. Such a side always records Poisson CIs, so the comparison resamples the Poisson way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from mlgate.cluster.metrics import auc_edges, merge_stats, metric_block, partition_stats, score_sketches
from mlgate.datasets.schema import ROW_ID
from mlgate.metrics import Predictions, usable_metrics
from mlgate.report.compare import (
    PAIRED,
    POISSON,
    UNPAIRED,
    Bootstrap,
    DeltaTest,
    Pairing,
    Streamed,
    delta_tests,
    in_subset,
    predictions_of,
)
from mlgate.report.join import Joined, join_on_row_id
from mlgate.report.parts import PredictionParts, frames, row_count
from mlgate.report.sides import Outputs

POINT = {"samples": 0, "seed": 0, "confidence": 0.95}  # partition_stats' settings for point values only


def is_partitioned(*sides: Outputs) -> bool:
    """True when either side's predictions are a partitioned folder."""
    return any(isinstance(outputs.predictions, PredictionParts) for outputs in sides)


def _sums(p: Predictions, edges: list[Any] | None) -> dict[str, Any]:
    assert p.row_ids is not None  # every predictions table holds row_id
    return partition_stats(p, p.row_ids, POINT, edges)


def point_values(
    names: list[str], pieces: Callable[[], Iterator[Predictions]]
) -> tuple[dict[str, float], float]:
    """`names` over every row `pieces()` yields (read twice when roc_auc needs its histograms), and
    roc_auc's error bound."""
    stats: dict[str, Any] = {}
    sketches, last = [], None
    for p in pieces():
        stats = merge_stats(stats, _sums(p, None))
        sketches.append(score_sketches(p))
        last = p
    if last is None:
        return {}, 0.0
    names = usable_metrics(names, last)
    if "roc_auc" in names:
        edges = auc_edges(sketches)
        histograms: dict[str, Any] = {}
        for p in pieces():
            histograms = merge_stats(histograms, _sums(p, edges))
        stats = {**stats, **histograms}
    block = metric_block(names, stats, last, POINT)
    bound = float(block.get("roc_auc", {}).get("error_bound", 0.0))
    return {name: block[name]["value"] for name in names}, bound


@dataclass(frozen=True)
class Side:
    """One side of the comparison: its outputs, and its compared rows part by part."""

    outputs: Outputs
    parts: Callable[[], Iterator[pd.DataFrame]]
    rows: int
    average: str | None

    def predictions(self, frame: pd.DataFrame) -> Predictions:
        p = predictions_of(self.outputs, frame, self.average)
        assert p is not None
        return p

    def pieces(self) -> Iterator[Predictions]:
        return (self.predictions(frame) for frame in self.parts() if len(frame))

    def drawn(self, seed: int) -> Predictions:
        """The rows the resamples draw from, compare.in_subset's; paired rows are aligned, so both sides
        draw the same ones."""
        chosen = [f[in_subset(f[ROW_ID].to_numpy(), seed, self.rows)] for f in self.parts()]
        return self.predictions(pd.concat(chosen, ignore_index=True))


def _tests(names: list[str], base: Side, head: Side, method: str, boot: Bootstrap) -> dict[str, DeltaTest]:
    base_point, base_bound = point_values(names, base.pieces)
    head_point, head_bound = point_values(names, head.pieces)
    base_seed = boot.seed if method == PAIRED else boot.seed + 1  # as compare's unpaired resamples
    streamed = Streamed(base_point, head_point, base.rows, head.rows, base_bound + head_bound)
    return delta_tests(names, base.drawn(base_seed), head.drawn(boot.seed), method, boot, streamed)


def _sides(base: Outputs, head: Outputs, joined: Joined, average: str | None) -> tuple[Side, Side]:
    if joined.shared:
        return (
            Side(base, lambda: (pd.read_parquet(b) for b, _ in joined.buckets), joined.shared, average),
            Side(head, lambda: (pd.read_parquet(h) for _, h in joined.buckets), joined.shared, average),
        )
    return (
        Side(base, lambda: frames(base.predictions), joined.base_rows, average),
        Side(head, lambda: frames(head.predictions), joined.head_rows, average),
    )


def streamed_statistics(
    base: Outputs, head: Outputs, names: list[str], boot: Bootstrap, average: str | None, scratch: Path
) -> tuple[Pairing, dict[str, DeltaTest]]:
    """How the rows pair, and Δ's tests, with bucket files under `scratch`."""
    joined = join_on_row_id(base.predictions, head.predictions, scratch)
    method = PAIRED if joined.shared else UNPAIRED
    pair = Pairing(method, None, None, joined.shared, joined.base_rows, joined.head_rows)
    if not names or boot.samples == 0:
        return pair, {}
    b, h = _sides(base, head, joined, average)
    return pair, _tests(names, b, h, method, replace(boot, resampling=POISSON))


def streamed_scores(outputs: Outputs, names: list[str], average: str | None) -> dict[str, float]:
    """A partitioned side's point values of `names` under `average`, part by part."""
    side = Side(outputs, lambda: frames(outputs.predictions), row_count(outputs.predictions), average)
    return point_values(names, side.pieces)[0]
