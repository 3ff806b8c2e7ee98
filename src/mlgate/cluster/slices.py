"""Sliced metrics on the cluster, in the local engine's shape (mlgate.slicing): each group's metrics
with Poisson-bootstrap CIs, the largest gap between judged groups with its CI, and a permutation p-value.

Two passes, because what a group needs is known only after the predict pass: which groups are the
MAX_SLICE_GROUPS largest (no partition can tell) and roc_auc's merged score bins. The predict pass only
counts each column's groups (`group_counts`, merged in pairs on the workers, first appearance kept so
that ties order as pandas' value_counts orders them). Sums taken there too would need a cap on a
partition's groups and a second pass for the columns over it, and a classifier needs the second pass for
roc_auc anyway: one path is simpler. That pass reads each partition's written predictions and its test
rows (the whole partition: a read of fewer columns may cut the partitions differently; the row ids are
checked to match) and computes, for the planned groups only:

- the sums of mlgate.cluster.metrics under the Poisson weights keyed by (row id, resample), so a group's
  resample b is the whole set's resample b restricted to it, as the local engine's is. The point values
  of the sum-decomposable metrics are exact.
- roc_auc's histograms. The point's are over the whole set's bins, with an error bound as the whole
  set's (over the bins that hold more than one score in the whole set, so never below the group's own).
  The resamples' are over coarser bins, every k-th edge, so that all groups' resample histograms of one
  column hold at most SLICE_AUC_CELLS cells per count (16 MB) while groups × channels × (1 + resamples)
  stays under SLICE_AUC_CELLS / 16 (20 groups, 6 classes, 1,000 resamples), and 16 bins past that. Each
  resample is shifted by the point's fine-minus-coarse difference (and kept in [0, 1]), which removes
  most of the coarse bins' bias: on synthetic groups of 300 to 20,000 rows, the CI ends moved by at most
  3% of the CI's width at 16 bins.
- the permutation test's rows: a sample of about PERMUTATION_ROWS judged rows, drawn by row-id hash
  (SLICE_SAMPLE_STREAM), all of them when there are fewer, gathered for slicing.gap_p_values.

What a task returns grows with the planned groups (at most MAX_SLICE_GROUPS a column), not the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlgate.cluster import metrics as merged_metrics
from mlgate.cluster.frames import reduce_tree
from mlgate.datasets.missing import as_model_input
from mlgate.datasets.schema import ROW_ID, FeatureSchema
from mlgate.errors import DataValidationError
from mlgate.metrics import Predictions, percentile_interval, predictions_from_frame
from mlgate.progress import step
from mlgate.rowhash import SLICE_SAMPLE_STREAM, uniform
from mlgate.slicing import (
    MAX_SLICE_GROUPS,
    PERMUTATION_ROWS,
    gap_p_values,
    gaps,
    group_labels,
    observed_gaps,
)

MAX_COUNTED_GROUPS = 100_000  # distinct values of a slice column the runner counts
SLICE_AUC_CELLS = 1 << 21  # all groups' resample histograms of one column, per count: 16 MB
COARSE_BINS = (16, 256)
Counts = dict[str, dict[str, int]]
Stats = merged_metrics.Stats


def group_counts(frame: pd.DataFrame, columns: list[str]) -> Counts:
    """Each slice column's rows per group in one partition, in order of first appearance."""
    return {
        column: {str(g): int(n) for g, n in group_labels(frame[column]).value_counts(sort=False).items()}
        for column in columns
    }


def merge_counts(a: Counts, b: Counts) -> Counts:
    """Two partitions' counts, `a`'s groups first: `a` holds the earlier partitions."""
    merged = {}
    for column, counts in a.items():
        total = dict(counts)
        for group, rows in b[column].items():
            total[group] = total.get(group, 0) + rows
        merged[column] = total
    return check_counts(merged)


def check_counts(counts: Counts) -> Counts:
    """The counts, unless a column has more groups than the runner counts."""
    for column, groups in counts.items():
        if len(groups) > MAX_COUNTED_GROUPS:
            raise DataValidationError(
                f"params.yaml: evaluate.slices: {column!r} has more than {MAX_COUNTED_GROUPS} values in "
                "the test set; compute.engine: dask slices by columns with fewer (bin this one)"
            )
    return counts


@dataclass(frozen=True)
class Scoring:
    """What the slices share with the whole set's evaluation."""

    names: list[str]
    schema: FeatureSchema
    card: dict[str, Any]
    edges: list[np.ndarray]  # roc_auc's bins per channel (inner edges); empty without roc_auc
    ranges: Stats  # the whole set's lowest and highest score in each of those bins


@dataclass(frozen=True)
class ColumnPlan:
    """One slice column's groups for the second pass: the largest first, the judged ones leading."""

    groups: list[str]
    judged: int  # the first `judged` groups have at least min_slice_rows rows
    share: float  # of the judged rows drawn for the permutation test (0 with fewer than two)
    coarse: list[np.ndarray]  # the resamples' roc_auc bins per channel; empty when not needed


@dataclass(frozen=True)
class SlicePart:
    """One column's results over some partitions: each planned group's stats, and the drawn rows."""

    stats: list[Stats]
    sample: pd.DataFrame  # the predictions of the drawn judged rows
    codes: np.ndarray  # each drawn row's group, as its index in the plan's groups


def plan_column(counts: dict[str, int], min_rows: int, edges: list[np.ndarray], samples: int) -> ColumnPlan:
    """The column's largest groups by rows (ties in first appearance order), as the local engine's."""
    groups = sorted(counts, key=lambda group: -counts[group])[:MAX_SLICE_GROUPS]
    judged = sum(counts[group] >= min_rows for group in groups)
    rows = sum(counts[group] for group in groups[:judged])
    share = PERMUTATION_ROWS / rows if judged >= 2 else 0.0
    return ColumnPlan(groups, judged, share, _coarse(edges, len(groups), samples))


def _coarse(edges: list[np.ndarray], groups: int, samples: int) -> list[np.ndarray]:
    """Every k-th bin edge, k such that the groups' resample histograms fit in SLICE_AUC_CELLS."""
    if not edges or not samples:
        return []
    low, high = COARSE_BINS
    bins = int(np.clip(SLICE_AUC_CELLS // (groups * len(edges) * (1 + samples)), low, high))
    coarse = []
    for inner in edges:
        every = max(1, -(-(len(inner) + 1) // bins))
        coarse.append(inner[every - 1 :: every])
    return coarse


def _weighted(p: Predictions, w: np.ndarray, scoring: Scoring, plan: ColumnPlan) -> Stats:
    """One group's rows of a chunk: sums, and the point's and the resamples' roc_auc histograms."""
    stats = merged_metrics.weighted_stats(p, w)
    if scoring.edges:
        point = merged_metrics.weighted_stats(p, w[:1], scoring.edges)
        stats.update({f"point_{key}": value for key, value in point.items()})
    if plan.coarse:
        resampled = merged_metrics.weighted_stats(p, w, plan.coarse)
        stats.update({f"resampled_{key}": value for key, value in resampled.items()})
    return stats


def _group_stats(
    p: Predictions,
    ids: np.ndarray,
    codes: dict[str, np.ndarray],
    plans: dict[str, ColumnPlan],
    bootstrap: dict[str, Any],
    scoring: Scoring,
) -> dict[str, list[Stats]]:
    """Each planned group's stats, from one draw of the partition's weights for every column."""
    found: dict[str, list[Stats]] = {column: [{} for _ in plan.groups] for column, plan in plans.items()}
    for rows, w in merged_metrics.weights(ids, bootstrap["samples"], bootstrap["seed"]):
        for column, plan in plans.items():
            chunk = codes[column][rows]
            for index, stats in enumerate(found[column]):
                picked = np.flatnonzero(chunk == index)
                if picked.size:
                    part = p.take(picked + rows.start)
                    found[column][index] = merged_metrics.merge_stats(
                        stats, _weighted(part, w[:, picked], scoring, plan)
                    )
    return found


def _partition(
    path: Path, part: pd.DataFrame, plans: dict[str, ColumnPlan], scoring: Scoring, settings: dict[str, Any]
) -> dict[str, SlicePart]:
    """One partition's share of every slice column: its planned groups' stats, and its drawn rows."""
    table = pd.read_parquet(path)
    ids = table[ROW_ID].to_numpy()
    if not np.array_equal(ids, part[ROW_ID].to_numpy()):
        raise DataValidationError(f"{path.name}: the test split changed while the evaluate stage read it")
    schema, columns = scoring.schema, list(plans)
    frame = as_model_input(part[columns], [c for c in schema.categorical if c in plans])
    p = predictions_from_frame(table, schema.task, scoring.card["classes"], settings["average"])
    codes = {c: pd.Index(plans[c].groups).get_indexer(group_labels(frame[c])) for c in columns}
    stats = _group_stats(p, ids, codes, plans, settings["bootstrap"], scoring)
    draw = uniform(ids, settings["bootstrap"]["seed"], SLICE_SAMPLE_STREAM)
    found = {}
    for column, plan in plans.items():
        keep = (codes[column] >= 0) & (codes[column] < plan.judged) & (draw < plan.share)
        found[column] = SlicePart(stats[column], table[keep].reset_index(drop=True), codes[column][keep])
    return found


def merge_parts(a: dict[str, SlicePart], b: dict[str, SlicePart]) -> dict[str, SlicePart]:
    """Two runs of partitions' slice results, `a`'s rows first."""
    return {
        column: SlicePart(
            [merged_metrics.merge_stats(x, y) for x, y in zip(one.stats, b[column].stats, strict=True)],
            pd.concat([one.sample, b[column].sample], ignore_index=True),
            np.concatenate([one.codes, b[column].codes]),
        )
        for column, one in a.items()
    }


def sliced_metrics(
    test: Any, paths: list[Path], counts: Counts, scoring: Scoring, settings: dict[str, Any]
) -> dict[str, Any]:
    """metrics.json's `slices`: for every `evaluate.slices` column, what mlgate.slicing computes locally."""
    import dask

    samples = settings["bootstrap"]["samples"]
    plans = {
        column: plan_column(counts[column], settings["min_slice_rows"], scoring.edges, samples)
        for column in settings["slices"]
    }
    with step(f"slice metrics by {', '.join(plans)} on the cluster"):
        tasks = [
            dask.delayed(_partition)(path, part, plans, scoring, settings)
            for part, path in zip(test.to_delayed(), paths, strict=True)
        ]
        parts: dict[str, SlicePart] = reduce_tree(tasks, merge_parts)
        return {c: _column(counts[c], plans[c], parts[c], scoring, settings) for c in plans}


def _series(stats: Stats, p: Predictions, scoring: Scoring) -> tuple[dict[str, np.ndarray], float | None]:
    """Each metric of one group for the point (first) and every resample, and roc_auc's error bound."""
    found = {name: merged_metrics.values(name, stats, p) for name in scoring.names if name != "roc_auc"}
    if "roc_auc" not in scoring.names:
        return found, None
    point_stats = {**_unprefixed(stats, "point_"), **scoring.ranges, "actual": stats["actual"][:1]}
    point, bound = merged_metrics.roc_auc(point_stats, p)
    series = point
    if resampled := _unprefixed(stats, "resampled_"):
        coarse = merged_metrics.auc_values({**resampled, "actual": stats["actual"]}, p)
        series = np.concatenate([point, np.clip(coarse[1:] + (point[0] - coarse[0]), 0.0, 1.0)])
    found["roc_auc"] = series
    return {name: found[name] for name in scoring.names}, bound


def _unprefixed(stats: Stats, prefix: str) -> Stats:
    return {key[len(prefix) :]: value for key, value in stats.items() if key.startswith(prefix)}


def _column(
    counts: dict[str, int], plan: ColumnPlan, part: SlicePart, scoring: Scoring, settings: dict[str, Any]
) -> dict[str, Any]:
    """One column's entry of metrics.json's `slices`, in the shape mlgate.slicing gives it."""
    schema, average = scoring.schema, settings["average"]
    p = predictions_from_frame(part.sample, schema.task, scoring.card["classes"], average)
    with np.errstate(invalid="ignore", divide="ignore"):
        series = [_series(stats, p, scoring) for stats in part.stats]
    groups: dict[str, Any] = {}
    for index, (group, (values, bound)) in enumerate(zip(plan.groups, series, strict=True)):
        groups[group] = {"rows": counts[group], "judged": index < plan.judged}
        groups[group].update({name: float(draws[0]) for name, draws in values.items()})
        if bound is not None:
            groups[group]["error_bound"] = {"roc_auc": bound}
    result: dict[str, Any] = {
        "groups": groups,
        "min_rows": settings["min_slice_rows"],
        "max_gap": {},
        "gap_ci": {},
        "gap_p": {},
        "groups_total": len(counts),
    }
    if plan.judged >= 2:
        _gap_results(result, [values for values, _ in series[: plan.judged]], part, p, settings)
    return result


def _gap_results(
    result: dict[str, Any],
    judged: list[dict[str, np.ndarray]],
    part: SlicePart,
    p: Predictions,
    settings: Any,
) -> None:
    """The judged groups' CIs, the largest gap, its CI and its permutation p-value, into `result`."""
    names, bootstrap = list(judged[0]), settings["bootstrap"]
    draws = {name: np.vstack([values[name] for values in judged]) for name in names}
    observed = {name: float(gaps(draws[name][:, :1])[0]) for name in names}
    result["max_gap"] = observed
    if bootstrap["samples"]:
        confidence = bootstrap["confidence"]
        for group, values in zip(list(result["groups"].values())[: len(judged)], judged, strict=True):
            group["ci"] = {name: percentile_interval(values[name][1:], confidence) for name in names}
        result["gap_ci"] = {name: percentile_interval(gaps(draws[name][:, 1:]), confidence) for name in names}
    defined = [name for name in names if np.isfinite(observed[name])]  # roc_auc of a one-class group: none
    exact = observed_gaps(defined, p, part.codes)  # on the drawn rows, as gap_p_values takes them
    result["gap_p"] = gap_p_values(defined, p, part.codes, exact, bootstrap["seed"])
