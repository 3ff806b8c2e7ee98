"""Base versus PR: metric deltas with bootstrap CIs, params, data and slice changes.

Δ's CI is a paired bootstrap when both prediction files cover the same rows (same row ids and the same
test-set hash): one weight matrix scores both models, so the noise of the shared test set cancels.
Otherwise the two sides are resampled independently (unpaired).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlgate.metrics import (
    HIGHER_IS_BETTER,
    NEEDS_PROBA,
    PROBA_PREFIX,
    SCORERS,
    Predictions,
    percentile_interval,
    predictions_from_frame,
    resample_weights,
    score,
)
from mlgate.report.sides import Outputs

PAIRED, UNPAIRED = "paired", "unpaired"
NOT_METRICS = {"n_test", "slices"}
SUBSAMPLE_ROWS = 5_000  # above this many test rows, Δ's CI uses an m-out-of-n bootstrap (delta_intervals)


@dataclass(frozen=True)
class Bootstrap:
    """How Δ's confidence interval is estimated."""

    samples: int
    confidence: float
    seed: int


def bootstrap_settings(params: dict[str, Any]) -> Bootstrap:
    """The PR's evaluate.bootstrap settings, with the schema's defaults."""
    settings = (params.get("evaluate") or {}).get("bootstrap") or {}
    return Bootstrap(
        int(settings.get("samples", 1000)),
        float(settings.get("confidence", 0.95)),
        int(settings.get("seed", 0)),
    )


def metric_values(metrics: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The metric entries of a metrics.json, without n_test and slices."""
    return {k: v for k, v in (metrics or {}).items() if k not in NOT_METRICS and isinstance(v, dict)}


def predictions_of(outputs: Outputs) -> Predictions | None:
    """The arrays the metrics read, from a side's predictions file and model card."""
    frame, card = outputs.predictions, outputs.card or {}
    if frame is None:
        return None
    task = card.get("task") or (outputs.data or {}).get("task") or "classification"
    classes = card.get("classes") or [
        c.removeprefix(PROBA_PREFIX) for c in frame.columns if c.startswith(PROBA_PREFIX)
    ]
    return predictions_from_frame(frame, task, classes)


def pairing(base: Outputs, head: Outputs) -> tuple[str, Any]:
    """PAIRED with the base predictions reordered to the PR's rows, or UNPAIRED with them as they are."""
    b, h = base.predictions, head.predictions
    base_hash, head_hash = (base.data or {}).get("test_hash"), (head.data or {}).get("test_hash")
    same_hash = head_hash is not None and base_hash == head_hash
    if b is None or h is None or not same_hash or len(b) != len(h):
        return UNPAIRED, b
    if set(b["row_id"]) != set(h["row_id"]) or b["row_id"].duplicated().any():
        return UNPAIRED, b
    return PAIRED, b.set_index("row_id").loc[h["row_id"]].reset_index()


def _subsample(predictions: Predictions, rows: np.ndarray | None) -> tuple[Predictions, float]:
    """The rows the resamples draw from, and the factor that rescales their spread to the full test set."""
    if rows is None:
        return predictions, 1.0
    return predictions.take(rows), float(np.sqrt(len(rows) / predictions.rows))


def subsample_rows(rows: int, seed: int) -> np.ndarray | None:
    """A seeded subset of SUBSAMPLE_ROWS row indices for a larger test set; None means every row."""
    if rows <= SUBSAMPLE_ROWS:
        return None
    return np.sort(np.random.default_rng(seed).choice(rows, SUBSAMPLE_ROWS, replace=False))


def _deviations(names: list[str], predictions: Predictions, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Each resample's metric minus the metric on the rows resampled from."""
    centre, draws = score(names, predictions), score(names, predictions, weights)
    return {name: draws[name] - centre[name][0] for name in names}


def paired_deviations(
    names: list[str], base: Predictions, head: Predictions, boot: Bootstrap
) -> dict[str, np.ndarray]:
    """Bootstrap deviations of Δ = PR − base, both sides scored with the same weight matrix."""
    rows = subsample_rows(head.rows, boot.seed)
    (base, scale), (head, _) = _subsample(base, rows), _subsample(head, rows)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for weights in resample_weights(head.rows, boot.samples, boot.seed):
        head_dev, base_dev = _deviations(names, head, weights), _deviations(names, base, weights)
        for name in names:
            parts[name].append((head_dev[name] - base_dev[name]) * scale)
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def _side_deviations(
    names: list[str], predictions: Predictions, samples: int, seed: int
) -> dict[str, np.ndarray]:
    predictions, scale = _subsample(predictions, subsample_rows(predictions.rows, seed))
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for weights in resample_weights(predictions.rows, samples, seed):
        for name, values in _deviations(names, predictions, weights).items():
            parts[name].append(values * scale)
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def unpaired_deviations(
    names: list[str], base: Predictions, head: Predictions, boot: Bootstrap
) -> dict[str, np.ndarray]:
    """Bootstrap deviations of Δ from independent resamples of the two test sets."""
    head_dev = _side_deviations(names, head, boot.samples, boot.seed)
    base_dev = _side_deviations(names, base, boot.samples, boot.seed + 1)
    return {name: head_dev[name] - base_dev[name] for name in names}


def delta_intervals(
    names: list[str], base: Predictions, head: Predictions, method: str, boot: Bootstrap
) -> dict[str, tuple[float, float]]:
    """The percentile bootstrap CI of Δ = PR − base for every metric both sides can compute.

    Up to SUBSAMPLE_ROWS test rows this is the plain percentile bootstrap. Above, resamples are drawn from
    a seeded subset of SUBSAMPLE_ROWS rows and their spread is rescaled by sqrt(m / n) (an m-out-of-n
    bootstrap), which keeps a 100,000-row report within its time budget.
    """
    both_proba = base.proba is not None and head.proba is not None
    usable = [n for n in names if n in SCORERS and (n not in NEEDS_PROBA or both_proba)]
    if not usable or boot.samples == 0:
        return {}
    deviations = (paired_deviations if method == PAIRED else unpaired_deviations)(usable, base, head, boot)
    head_point, base_point = score(usable, head), score(usable, base)
    intervals = {}
    for name in usable:
        delta = float(head_point[name][0] - base_point[name][0])
        low, high = percentile_interval(deviations[name], boot.confidence)
        intervals[name] = (delta + low, delta + high)
    return intervals


def verdict(name: str, delta: float, interval: tuple[float, float] | None) -> str:
    """better / worse / no significant change, with the metric's direction."""
    higher = HIGHER_IS_BETTER.get(name, True)
    if interval is None or not np.isfinite(interval[0]):
        if delta == 0:
            return "no change"
        return ("better" if (delta > 0) == higher else "worse") + " (no CI)"
    low, high = interval
    if low > 0 or high < 0:
        return "better" if (low > 0) == higher else "worse"
    return "no significant change"


def metric_rows(
    base: Outputs, head: Outputs, intervals: dict[str, tuple[float, float]]
) -> list[dict[str, Any]]:
    """One row per metric in either side: values, Δ absolute and relative, Δ's CI and the verdict."""
    base_metrics, head_metrics = metric_values(base.metrics), metric_values(head.metrics)
    rows = []
    for name in [*head_metrics, *(n for n in base_metrics if n not in head_metrics)]:
        b, h = base_metrics.get(name), head_metrics.get(name)
        row: dict[str, Any] = {"metric": name, "higher_is_better": HIGHER_IS_BETTER.get(name, True)}
        row["status"] = "added" if b is None else "removed" if h is None else "both"
        row["base"] = None if b is None else b.get("value")
        row["pr"] = None if h is None else h.get("value")
        row["pr_ci"] = None if h is None or "ci_low" not in h else [h["ci_low"], h["ci_high"]]
        row["base_ci"] = None if b is None or "ci_low" not in b else [b["ci_low"], b["ci_high"]]
        if row["status"] == "both" and row["base"] is not None and row["pr"] is not None:
            row.update(_delta_fields(name, row["base"], row["pr"], intervals.get(name)))
        rows.append(row)
    return rows


def _delta_fields(name: str, base: float, pr: float, interval: tuple[float, float] | None) -> dict[str, Any]:
    delta = pr - base
    relative = delta / abs(base) if base else None
    return {
        "delta": delta,
        "delta_pct": None if relative is None else 100 * relative,
        "delta_ci": None if interval is None else list(interval),
        "verdict": verdict(name, delta, interval),
    }


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys; lists and scalars are leaves."""
    if not isinstance(data, dict) or (prefix and not data):
        return {prefix: data} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def params_changes(base: dict[str, Any], head: dict[str, Any]) -> list[dict[str, Any]]:
    """Only the params that changed, old → new, nested keys dotted."""
    old, new = flatten(base), flatten(head)
    changes = []
    for key in [*new, *(k for k in old if k not in new)]:
        if key in old and key in new and old[key] == new[key]:
            continue
        change = "added" if key not in old else "removed" if key not in new else "changed"
        changes.append({"key": key, "base": old.get(key), "pr": new.get(key), "change": change})
    return changes


def data_changes(base: dict[str, Any] | None, head: dict[str, Any] | None) -> dict[str, Any]:
    """Rows, class balance or target stats, and whether the data and test-set hashes changed."""
    b, h = base or {}, head or {}
    changes: dict[str, Any] = {key: [b.get(key), h.get(key)] for key in ("rows", "train_rows", "test_rows")}
    for section in ("class_balance", "target_stats"):
        if section in b or section in h:
            keys = [
                *(h.get(section) or {}),
                *(k for k in b.get(section) or {} if k not in (h.get(section) or {})),
            ]
            changes[section] = {
                k: [(b.get(section) or {}).get(k), (h.get(section) or {}).get(k)] for k in keys
            }
    changes["data_hash_changed"] = bool(b) and b.get("data_hash") != h.get("data_hash")
    changes["test_hash_changed"] = bool(b) and b.get("test_hash") != h.get("test_hash")
    return changes


def slice_changes(base: dict[str, Any] | None, head: dict[str, Any] | None, metric: str) -> dict[str, Any]:
    """Per-group values of one metric for base and PR, and the largest gap, per slice column."""
    b, h = (base or {}).get("slices") or {}, (head or {}).get("slices") or {}
    result = {}
    for column in [*h, *(c for c in b if c not in h)]:
        bg, hg = (b.get(column) or {}).get("groups", {}), (h.get(column) or {}).get("groups", {})
        groups = {
            g: {
                "rows": [bg.get(g, {}).get("rows"), hg.get(g, {}).get("rows")],
                "value": [bg.get(g, {}).get(metric), hg.get(g, {}).get(metric)],
            }
            for g in [*hg, *(g for g in bg if g not in hg)]
        }
        gaps = [
            (b.get(column) or {}).get("max_gap", {}).get(metric),
            (h.get(column) or {}).get("max_gap", {}).get(metric),
        ]
        result[column] = {"metric": metric, "groups": groups, "max_gap": gaps}
    return result
