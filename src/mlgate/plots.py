"""Plot data for `dvc plots`: small JSON/CSV files the templates in dvc.yaml draw."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

CURVE_POINTS = 200
SCATTER_POINTS = 5000


def _thin(frame: pd.DataFrame, points: int) -> pd.DataFrame:
    """Keep at most `points` evenly spaced rows of a curve, always with both ends."""
    if len(frame) <= points:
        return frame
    keep = np.unique(np.linspace(0, len(frame) - 1, points).round().astype(int))
    return frame.iloc[keep]


def _records(frame: pd.DataFrame, digits: int = 6) -> list[dict[str, Any]]:
    return frame.round(digits).to_dict(orient="records")


def binary_scores(table: pd.DataFrame, classes: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Positive-class scores and 0/1 truth; one-vs-rest pooled over classes for multiclass."""
    proba = table[[f"proba_{c}" for c in classes]].to_numpy(float)
    truth = table["target"].astype(str).to_numpy()[:, None] == np.array([str(c) for c in classes])[None, :]
    if len(classes) == 2:
        return proba[:, 1], truth[:, 1].astype(int)
    return proba.ravel(), truth.ravel().astype(int)


def roc_points(scores: np.ndarray, truth: np.ndarray) -> pd.DataFrame:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(truth, scores)
    return pd.DataFrame({"fpr": fpr, "tpr": tpr})


def pr_points(scores: np.ndarray, truth: np.ndarray) -> pd.DataFrame:
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(truth, scores)
    return pd.DataFrame({"recall": recall[::-1], "precision": precision[::-1]})


def classification_plots(table: pd.DataFrame, classes: list[Any]) -> dict[str, Any]:
    """ROC, precision-recall and confusion-matrix data."""
    plots: dict[str, Any] = {
        "confusion.csv": table[["target", "prediction"]]
        .rename(columns={"target": "actual", "prediction": "predicted"})
        .to_csv(index=False)
    }
    if all(f"proba_{c}" in table for c in classes):
        scores, truth = binary_scores(table, classes)
        plots["roc.json"] = _records(_thin(roc_points(scores, truth), CURVE_POINTS))
        plots["precision_recall.json"] = _records(_thin(pr_points(scores, truth), CURVE_POINTS))
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
    """Permutation importance as bars, most important first."""
    return _records(importance[["feature", "importance", "std"]])
