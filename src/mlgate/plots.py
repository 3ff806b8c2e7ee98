"""Plot data for `dvc plots`: small JSON/CSV files the templates in dvc.yaml draw.

For a multiclass model `roc.json` and `precision_recall.json` hold the curve the configured averaging
describes (the one roc_auc and f1 are computed with), and `roc_by_class.json` and
`precision_recall_by_class.json` one one-vs-rest curve per class.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlgate.metrics import proba_column

CURVE_POINTS = 200
SCATTER_POINTS = 5000
GRID = np.linspace(0.0, 1.0, CURVE_POINTS)


def _thin(frame: pd.DataFrame, points: int) -> pd.DataFrame:
    """Keep at most `points` evenly spaced rows of a curve, always with both ends."""
    if len(frame) <= points:
        return frame
    keep = np.unique(np.linspace(0, len(frame) - 1, points).round().astype(int))
    return frame.iloc[keep]


def _records(frame: pd.DataFrame, digits: int = 6) -> list[dict[str, Any]]:
    return frame.round(digits).to_dict(orient="records")


def roc_points(scores: np.ndarray, truth: np.ndarray) -> pd.DataFrame:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(truth, scores)
    return pd.DataFrame({"fpr": fpr, "tpr": tpr})


def pr_points(scores: np.ndarray, truth: np.ndarray) -> pd.DataFrame:
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(truth, scores)
    return pd.DataFrame({"recall": recall[::-1], "precision": precision[::-1]})


def _on_grid(curve: pd.DataFrame, x: str, y: str) -> np.ndarray:
    """A curve's best y reachable at each x of GRID: tpr at fpr ≤ x, precision at recall ≥ x."""
    xs, ys = curve[x].to_numpy(), curve[y].to_numpy()
    if x == "fpr":
        return np.array([ys[xs <= point + 1e-12].max(initial=0.0) for point in GRID])
    return np.array([ys[xs >= point - 1e-12].max(initial=0.0) for point in GRID])


def _averaged(curves: dict[str, pd.DataFrame], weights: dict[str, float], x: str, y: str) -> pd.DataFrame:
    """The mean of per-class curves on a common grid, weighted (macro: equal weights)."""
    stacked = np.vstack([_on_grid(curves[label], x, y) for label in curves])
    share = np.array([weights[label] for label in curves])
    return pd.DataFrame({x: GRID, y: share @ stacked / share.sum()})


def class_curves(table: pd.DataFrame, classes: list[Any], points: Any) -> dict[str, pd.DataFrame]:
    """One-vs-rest curves of each class that has positives and negatives in the test set."""
    truth = table["target"].astype(str).to_numpy()
    curves = {}
    for label in classes:
        positive = truth == str(label)
        if positive.any() and not positive.all():
            curves[str(label)] = points(table[proba_column(label)].to_numpy(float), positive.astype(int))
    return curves


def averaged_curve(
    table: pd.DataFrame, classes: list[Any], average: str, points: Any, axes: tuple[str, str]
) -> pd.DataFrame:
    """The curve the averaging describes: pooled over classes (micro), else the mean of class curves."""
    truth = table["target"].astype(str).to_numpy()
    if average == "micro":
        proba = table[[proba_column(c) for c in classes]].to_numpy(float)
        onehot = truth[:, None] == np.array([str(c) for c in classes])[None, :]
        return points(proba.ravel(), onehot.ravel().astype(int))
    curves = class_curves(table, classes, points)
    support = {str(c): float((truth == str(c)).sum()) for c in classes}
    weights = {label: support[label] if average == "weighted" else 1.0 for label in curves}
    return _averaged(curves, weights, *axes)


def _by_class(curves: dict[str, pd.DataFrame]) -> list[dict[str, Any]]:
    return [
        {"class": label, **row}
        for label, curve in curves.items()
        for row in _records(_thin(curve, CURVE_POINTS))
    ]


def classification_plots(table: pd.DataFrame, classes: list[Any], average: str | None) -> dict[str, Any]:
    """ROC, precision-recall and confusion-matrix data; `average` is None for a binary model."""
    plots: dict[str, Any] = {
        "confusion.csv": table[["target", "prediction"]]
        .rename(columns={"target": "actual", "prediction": "predicted"})
        .to_csv(index=False)
    }
    if not all(proba_column(c) in table for c in classes):
        return plots
    if average is None:  # binary: the positive class's curves
        scores, truth = (
            table[proba_column(classes[1])].to_numpy(float),
            table["target"].astype(str) == str(classes[1]),
        )
        plots["roc.json"] = _records(_thin(roc_points(scores, truth.to_numpy(int)), CURVE_POINTS))
        plots["precision_recall.json"] = _records(_thin(pr_points(scores, truth.to_numpy(int)), CURVE_POINTS))
        return plots
    for name, points, axes in (
        ("roc", roc_points, ("fpr", "tpr")),
        ("precision_recall", pr_points, ("recall", "precision")),
    ):
        plots[f"{name}.json"] = _records(
            _thin(averaged_curve(table, classes, average, points, axes), CURVE_POINTS)
        )
        plots[f"{name}_by_class.json"] = _by_class(class_curves(table, classes, points))
    return plots


def regression_plots(table: pd.DataFrame, seed: int = 0) -> dict[str, Any]:
    """Predicted-vs-actual and residual data, on a seeded sample of rows."""
    sample = table.sample(n=min(len(table), SCATTER_POINTS), random_state=seed)
    actual = sample["target"].astype(float)
    predicted = sample["prediction"].astype(float)
    return {
        "predicted_vs_actual.json": _records(pd.DataFrame({"actual": actual, "predicted": predicted})),
        "residuals.json": _records(pd.DataFrame({"predicted": predicted, "residual": actual - predicted})),
    }


def importance_plot(importance: pd.DataFrame) -> list[dict[str, Any]]:
    """Permutation importance as bars, most important first, each row naming the metric it was scored on."""
    return _records(importance[["feature", "importance", "std", "metric"]])
