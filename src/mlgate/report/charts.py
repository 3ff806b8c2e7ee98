"""Chart data for the report: curves on a fixed grid, confusion counts, importances, binned means."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlgate.report.parts import class_counts, confusion_cells, row_sample
from mlgate.report.sides import Outputs

GRID = np.round(np.linspace(0.0, 1.0, 11), 1)
TOP_FEATURES = 10
MAX_CLASSES = 12
BINS = 10


def roc_on_grid(points: list[dict[str, float]] | None) -> list[float] | None:
    """Best true positive rate reachable at each false positive rate of the grid."""
    if not points:
        return None
    fpr = np.array([p["fpr"] for p in points])
    tpr = np.array([p["tpr"] for p in points])
    return [float(tpr[fpr <= x + 1e-12].max(initial=0.0)) for x in GRID]


def precision_on_grid(points: list[dict[str, float]] | None) -> list[float] | None:
    """Interpolated precision (best precision at recall ≥ r) at each recall of the grid."""
    if not points:
        return None
    recall = np.array([p["recall"] for p in points])
    precision = np.array([p["precision"] for p in points])
    return [float(precision[recall >= x - 1e-12].max(initial=0.0)) for x in GRID]


def _by_class(rows: list[dict[str, Any]] | None, on_grid: Any) -> dict[str, list[float]]:
    """Per-class curves (one-vs-rest) on the grid, at most MAX_CLASSES of them."""
    classes: dict[str, list[dict[str, Any]]] = {}
    for row in rows or []:
        classes.setdefault(str(row["class"]), []).append(row)
    return {label: on_grid(points) for label, points in list(classes.items())[:MAX_CLASSES]}


def curves(base: Outputs, head: Outputs, average: str | None) -> dict[str, Any]:
    """ROC and precision-recall curves of both sides on the same grid, with the PR's per-class curves.

    Each chart names the metric its curve belongs to: roc_auc for ROC, precision and recall for
    precision-recall, with the averaging a multiclass model's averaged curve uses.
    """
    result: dict[str, Any] = {}
    for name, on_grid, metric in (
        ("roc", roc_on_grid, "roc_auc"),
        ("precision_recall", precision_on_grid, "precision and recall"),
    ):
        series = {"base": on_grid(base.plots.get(name)), "pr": on_grid(head.plots.get(name))}
        if series["pr"] is not None or series["base"] is not None:
            classes = _by_class(head.plots.get(f"{name}_by_class"), on_grid)
            described = f"{metric} ({average}, one-vs-rest)" if average else metric
            result[name] = {"grid": GRID.tolist(), **series, "classes": classes, "metric": described}
    return result


def confusion_pair(base: Outputs, head: Outputs) -> dict[str, Any] | None:
    """Both sides' confusion matrices over the union of their classes (classification only)."""
    counts = [found for o in (head, base) if (found := class_counts(o.predictions)) is not None]
    if not counts or _task(head, base) != "classification":
        return None
    labels: list[str] = []
    for found in counts:
        labels += [str(v) for v in sorted(found.truth) if str(v) not in labels]
    labels = labels[:MAX_CLASSES]
    return {
        "labels": labels,
        "base": confusion_cells(base.predictions, labels),
        "pr": confusion_cells(head.predictions, labels),
    }


def importances(base: Outputs, head: Outputs) -> dict[str, Any] | None:
    """Top permutation importances of the PR (or the base when the PR has none), both sides."""
    b = {row["feature"]: row["importance"] for row in base.plots.get("importance") or []}
    h = {row["feature"]: row["importance"] for row in head.plots.get("importance") or []}
    lead = h or b
    if not lead:
        return None
    top = sorted(lead, key=lambda f: -lead[f])[:TOP_FEATURES]
    rows = head.plots.get("importance") or base.plots.get("importance") or [{}]
    return {
        "features": top,
        "base": [b.get(f) for f in top] if b else None,
        "pr": [h.get(f) for f in top] if h else None,
        "metric": rows[0].get("metric"),
    }


def binned_means(base: Outputs, head: Outputs) -> dict[str, Any] | None:
    """Mean prediction per bin of the actual value (equal-count bins of the PR's test set)."""
    if _task(head, base) != "regression" or head.predictions is None:
        return None
    rows = {"base": row_sample(base.predictions), "pr": row_sample(head.predictions)}
    actual = head_rows["target"].to_numpy(float) if (head_rows := rows["pr"]) is not None else np.array([])
    edges = np.unique(np.quantile(actual, np.linspace(0, 1, BINS + 1)))
    result: dict[str, Any] = {"actual": _bin_mean(actual, actual, edges)}
    for side, frame in rows.items():
        result[side] = (
            None
            if frame is None
            else _bin_mean(frame["target"].to_numpy(float), frame["prediction"].to_numpy(float), edges)
        )
    return result


def _bin_mean(actual: np.ndarray, values: np.ndarray, edges: np.ndarray) -> list[float | None]:
    bins = np.clip(np.searchsorted(edges, actual, side="right") - 1, 0, len(edges) - 2)
    sums = np.bincount(bins, weights=values, minlength=len(edges) - 1)
    counts = np.bincount(bins, minlength=len(edges) - 1)
    return [float(s / c) if c else None for s, c in zip(sums, counts, strict=True)]


def _task(head: Outputs, base: Outputs) -> str | None:
    for outputs in (head, base):
        task = (outputs.card or {}).get("task") or (outputs.data or {}).get("task")
        if task:
            return str(task)
    return None


def chart_data(base: Outputs, head: Outputs, average: str | None) -> dict[str, Any]:
    """Everything the report draws, as plain data."""
    charts: dict[str, Any] = curves(base, head, average)
    for name, value in (
        ("confusion", confusion_pair(base, head)),
        ("importance", importances(base, head)),
        ("predicted_vs_actual", binned_means(base, head)),
    ):
        if value is not None:
            charts[name] = value
    return charts
