"""Sliced metrics: each group's values with bootstrap CIs, and the largest gap with its CI and a p-value.

Only groups with at least `evaluate.min_slice_rows` rows are judged: an 11-row group swings by 0.09
with one error. The gap is the best judged group's value minus the worst's. The maximum of several noisy
values is biased upward, so whether a gap is real is not read off its bootstrap CI (which sits above 0
even when the groups do not differ) but tested by permutation: the group labels of the judged rows are
shuffled, which is what "the groups do not differ" means, and the p-value is how often a shuffled gap
is at least the observed one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from mlgate.errors import DataValidationError
from mlgate.metrics import RESAMPLE_CELLS, Predictions, percentile_interval, resample_weights, score

MAX_SLICE_GROUPS = 20
PERMUTATIONS = 200
PERMUTATION_ROWS = 20_000  # a larger set is tested on a seeded subset of this many rows
MISSING_GROUP = "(missing)"


def require_columns(columns: list[str], available: list[str]) -> None:
    """Stop on the first `evaluate.slices` column the test set does not have."""
    for column in columns:
        if column not in available:
            raise DataValidationError(
                f"params.yaml: evaluate.slices: {column!r} is not a column of the test set"
            )


def group_labels(values: pd.Series) -> pd.Series:
    """The group each row belongs to, as text; missing values form their own group."""
    return values.astype(str).where(values.notna(), MISSING_GROUP)


def gaps(values: np.ndarray) -> np.ndarray:
    """Largest minus smallest finite value along axis 0 (groups × draws); NaN with fewer than two."""
    finite = np.isfinite(values)
    counts = finite.sum(axis=0)
    high = np.where(finite, values, -np.inf).max(axis=0)
    low = np.where(finite, values, np.inf).min(axis=0)
    return np.where(counts >= 2, high - low, np.nan)


def _group_draws(
    names: list[str], predictions: Predictions, masks: list[np.ndarray], bootstrap: dict[str, Any]
) -> dict[str, np.ndarray]:
    """Each metric of each group under every bootstrap resample of the whole set: groups × samples."""
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    groups = [predictions.take(mask) for mask in masks]
    for weights in resample_weights(predictions.rows, bootstrap["samples"], bootstrap["seed"]):
        with np.errstate(invalid="ignore", divide="ignore"):
            scored = [
                score(names, group, weights[:, mask]) for group, mask in zip(groups, masks, strict=True)
            ]
        for name in names:
            parts[name].append(np.vstack([values[name] for values in scored]))
    return {name: np.hstack(chunks) for name, chunks in parts.items()}


def _permuted(codes: np.ndarray, permutations: int, seed: int) -> Iterator[np.ndarray]:
    """Shuffles of the group codes, in memory-bounded chunks of permutations × rows."""
    rng = np.random.default_rng(seed)
    chunk = max(1, min(permutations, RESAMPLE_CELLS // max(len(codes), 1)))
    for start in range(0, permutations, chunk):
        yield rng.permuted(np.tile(codes, (min(chunk, permutations - start), 1)), axis=1)


def gap_p_values(
    names: list[str], predictions: Predictions, codes: np.ndarray, observed: dict[str, float], seed: int
) -> dict[str, float]:
    """Permutation p-value of each metric's gap: how often shuffled labels give a gap at least as big."""
    if len(codes) > PERMUTATION_ROWS:
        keep = np.sort(np.random.default_rng(seed).choice(len(codes), PERMUTATION_ROWS, replace=False))
        predictions, codes = predictions.take(keep), codes[keep]
        observed = observed_gaps(names, predictions, codes)
    at_least = dict.fromkeys(names, 0)
    groups = np.unique(codes)
    for shuffled in _permuted(codes, PERMUTATIONS, seed):
        with np.errstate(invalid="ignore", divide="ignore"):
            scored = [score(names, predictions, (shuffled == group).astype(float)) for group in groups]
        for name in names:
            shuffled_gaps = gaps(np.vstack([values[name] for values in scored]))
            at_least[name] += int(np.sum(np.nan_to_num(shuffled_gaps, nan=-np.inf) >= observed[name] - 1e-12))
    return {name: (at_least[name] + 1) / (PERMUTATIONS + 1) for name in names}


def observed_gaps(names: list[str], predictions: Predictions, codes: np.ndarray) -> dict[str, float]:
    """Each metric's gap between the groups that `codes` numbers, on these rows."""
    masks = [codes == group for group in np.unique(codes)]
    values = [score(names, predictions.take(mask)) for mask in masks]
    return {name: float(gaps(np.vstack([v[name] for v in values]))[0]) for name in names}


def slice_metrics(
    names: list[str], predictions: Predictions, labels: pd.Series, bootstrap: dict[str, Any], min_rows: int
) -> dict[str, Any]:
    """One slice column: per-group values (with CIs when judged), the gap, its CI and its p-value."""
    top = labels.value_counts().index[:MAX_SLICE_GROUPS]
    masks = {str(group): (labels == group).to_numpy() for group in top}
    judged = [group for group, mask in masks.items() if mask.sum() >= min_rows]
    groups: dict[str, Any] = {
        group: {"rows": int(mask.sum()), "judged": group in judged, **_points(names, predictions, mask)}
        for group, mask in masks.items()
    }
    result: dict[str, Any] = {
        "groups": groups,
        "min_rows": min_rows,
        "max_gap": {},
        "gap_ci": {},
        "gap_p": {},
        "groups_total": int(labels.nunique(dropna=False)),
    }
    if len(judged) < 2:
        return result
    observed = {name: float(gaps(np.array([[groups[g][name]] for g in judged]))[0]) for name in names}
    result["max_gap"] = observed
    if bootstrap["samples"]:
        draws = _group_draws(names, predictions, [masks[g] for g in judged], bootstrap)
        confidence = bootstrap["confidence"]
        for index, group in enumerate(judged):
            groups[group]["ci"] = {
                name: percentile_interval(draws[name][index], confidence) for name in names
            }
        result["gap_ci"] = {name: percentile_interval(gaps(draws[name]), confidence) for name in names}
    rows = np.flatnonzero(np.any([masks[g] for g in judged], axis=0))
    codes = np.select([masks[g][rows] for g in judged], list(range(len(judged))))
    defined = [name for name in names if np.isfinite(observed[name])]  # roc_auc of a one-class group: none
    result["gap_p"] = gap_p_values(defined, predictions.take(rows), codes, observed, bootstrap["seed"])
    return result


def _points(names: list[str], predictions: Predictions, mask: np.ndarray) -> dict[str, float]:
    with np.errstate(invalid="ignore", divide="ignore"):
        return {name: float(values[0]) for name, values in score(names, predictions.take(mask)).items()}
