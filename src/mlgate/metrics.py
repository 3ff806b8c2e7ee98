"""Metrics as weighted sums over test rows, so one code path gives point values and bootstrap CIs.

A bootstrap resample is a row of counts `W[b, i]` (how often row i was drawn). Every metric here is
computed for all resamples at once from such a weight matrix with matrix products, which is what makes
1,000 resamples of 100k+ rows cheap. A point estimate is the same computation with `W = ones`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlgate.errors import DataValidationError
from mlgate.progress import step

METRICS_BY_TASK: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"),
    "regression": ("rmse", "mae", "r2"),
}
HIGHER_IS_BETTER = {
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "roc_auc": True,
    "log_loss": False,
    "rmse": False,
    "mae": False,
    "r2": True,
}
DEFAULT_PRIMARY = {"classification": "roc_auc", "regression": "rmse"}
NEEDS_PROBA = {"roc_auc", "log_loss"}
PROBA_PREFIX = "proba_"
RESAMPLE_CELLS = 8_000_000  # weight-matrix cells per chunk: bounds memory to ~64 MB per array


def metric_names(params: dict[str, Any]) -> list[str]:
    """Metrics configured for the task, in a stable order."""
    task = params["model"]["task"]
    return list(params["evaluate"]["metrics"] or METRICS_BY_TASK[task])


def primary_metric(params: dict[str, Any]) -> str:
    """The metric the report leads with."""
    return str(params["evaluate"]["primary"] or DEFAULT_PRIMARY[params["model"]["task"]])


@dataclass(frozen=True)
class Predictions:
    """Test-set outcomes in a form every metric reads: class indices or values, and probabilities."""

    task: str
    y_true: np.ndarray  # class index (classification) or value (regression)
    y_pred: np.ndarray
    proba: np.ndarray | None = None  # rows × classes, classification only

    @property
    def rows(self) -> int:
        return len(self.y_true)

    @property
    def n_classes(self) -> int:
        return 0 if self.proba is None else self.proba.shape[1]

    def take(self, mask: np.ndarray) -> Predictions:
        """The predictions of a subset of rows."""
        proba = None if self.proba is None else self.proba[mask]
        return Predictions(self.task, self.y_true[mask], self.y_pred[mask], proba)


def _onehot(index: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(index), k))
    out[np.arange(len(index)), index] = 1.0
    return out


def _confusion_counts(p: Predictions, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted true positives, predicted and actual counts per class: each B × classes."""
    k = max(p.n_classes, int(max(p.y_true.max(), p.y_pred.max())) + 1)
    actual, predicted = _onehot(p.y_true, k), _onehot(p.y_pred, k)
    return w @ (actual * predicted), w @ predicted, w @ actual


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Divide, with 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 0)


def _per_class(p: Predictions, w: np.ndarray, kind: str) -> np.ndarray:
    tp, predicted, actual = _confusion_counts(p, w)
    precision, recall = _divide(tp, predicted), _divide(tp, actual)
    if kind == "precision":
        values = precision
    elif kind == "recall":
        values = recall
    else:
        values = _divide(2 * tp, predicted + actual)
    if tp.shape[1] == 2:  # binary: the positive class is the second one
        return values[:, 1]
    return values.mean(axis=1)


def _auc(score: np.ndarray, positive: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted ROC AUC for every resample, with ties counted half as sklearn does."""
    order = np.argsort(score, kind="stable")
    sorted_score = score[order]
    starts = np.flatnonzero(np.r_[True, sorted_score[1:] != sorted_score[:-1]])
    w_sorted = w[:, order]
    pos = positive[order].astype(float)
    group_pos = np.add.reduceat(w_sorted * pos, starts, axis=1)
    group_neg = np.add.reduceat(w_sorted * (1.0 - pos), starts, axis=1)
    neg_below = np.cumsum(group_neg, axis=1) - group_neg
    area = (group_pos * (neg_below + 0.5 * group_neg)).sum(axis=1)
    total = group_pos.sum(axis=1) * group_neg.sum(axis=1)
    return np.divide(area, total, out=np.full(len(w), np.nan), where=total > 0)


def _roc_auc(p: Predictions, w: np.ndarray) -> np.ndarray:
    assert p.proba is not None
    if p.n_classes == 2:
        return _auc(p.proba[:, 1], p.y_true == 1, w)
    per_class = [_auc(p.proba[:, c], p.y_true == c, w) for c in range(p.n_classes)]
    stacked = np.vstack(per_class)
    counts = (~np.isnan(stacked)).sum(axis=0)
    sums = np.nansum(stacked, axis=0)
    return np.divide(sums, counts, out=np.full(len(w), np.nan), where=counts > 0)


def _log_loss(p: Predictions, w: np.ndarray) -> np.ndarray:
    assert p.proba is not None
    eps = np.finfo(p.proba.dtype).eps
    proba = np.clip(p.proba, eps, 1 - eps)
    proba = proba / proba.sum(axis=1, keepdims=True)
    loss = -np.log(proba[np.arange(p.rows), p.y_true])
    return (w @ loss) / w.sum(axis=1)


def _squared(p: Predictions, w: np.ndarray) -> np.ndarray:
    return (w @ (p.y_true - p.y_pred) ** 2) / w.sum(axis=1)


def _r2(p: Predictions, w: np.ndarray) -> np.ndarray:
    n = w.sum(axis=1)
    mean = (w @ p.y_true) / n
    total = w @ p.y_true**2 - n * mean**2
    residual = w @ (p.y_true - p.y_pred) ** 2
    return 1.0 - np.divide(residual, total, out=np.full(len(w), np.nan), where=total > 0)


SCORERS: dict[str, Callable[[Predictions, np.ndarray], np.ndarray]] = {
    "accuracy": lambda p, w: (w @ (p.y_true == p.y_pred).astype(float)) / w.sum(axis=1),
    "precision": lambda p, w: _per_class(p, w, "precision"),
    "recall": lambda p, w: _per_class(p, w, "recall"),
    "f1": lambda p, w: _per_class(p, w, "f1"),
    "roc_auc": _roc_auc,
    "log_loss": _log_loss,
    "rmse": lambda p, w: np.sqrt(_squared(p, w)),
    "mae": lambda p, w: (w @ np.abs(p.y_true - p.y_pred)) / w.sum(axis=1),
    "r2": _r2,
}


def score(
    names: list[str], predictions: Predictions, weights: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Every named metric for each row of `weights` (resamples × rows); ones when omitted."""
    w = np.ones((1, predictions.rows)) if weights is None else weights
    return {name: SCORERS[name](predictions, w) for name in names}


def point_scores(names: list[str], predictions: Predictions) -> dict[str, float]:
    """Every named metric on the rows as they are."""
    return {name: float(values[0]) for name, values in score(names, predictions).items()}


def resample_weights(rows: int, samples: int, seed: int) -> Iterator[np.ndarray]:
    """Yield bootstrap count matrices (resamples × rows) in memory-bounded chunks."""
    rng = np.random.default_rng(seed)
    chunk = max(1, min(samples, RESAMPLE_CELLS // max(rows, 1)))
    for start in range(0, samples, chunk):
        size = min(chunk, samples - start)
        drawn = rng.integers(0, rows, size=(size, rows)) + (np.arange(size) * rows)[:, None]
        yield np.bincount(drawn.ravel(), minlength=size * rows).reshape(size, rows).astype(float)


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval, ignoring resamples where a metric was undefined."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_intervals(
    names: list[str],
    predictions: Predictions,
    samples: int,
    confidence: float,
    seed: int,
    on_chunk: Callable[[int], None] | None = None,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap interval of every metric, all resamples vectorised."""
    collected: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for weights in resample_weights(predictions.rows, samples, seed):
        for name, values in score(names, predictions, weights).items():
            collected[name].append(values)
        if on_chunk:
            on_chunk(len(weights))
    return {name: percentile_interval(np.concatenate(parts), confidence) for name, parts in collected.items()}


def proba_column(label: Any) -> str:
    """Name of the predictions column holding the probability of one class."""
    return f"{PROBA_PREFIX}{label}"


def model_outputs(model: Any, features: Any, task: str, classes: list[Any]) -> dict[str, Any]:
    """The model's `prediction` for each row and, for a classifier with probabilities, `proba_<class>`."""
    outputs: dict[str, Any] = {"prediction": model.predict(features)}
    if task == "classification" and hasattr(model, "predict_proba"):
        proba = model.predict_proba(features)
        for index, label in enumerate(classes):
            outputs[proba_column(label)] = proba[:, index]
    return outputs


def class_indices(values: Any, classes: list[Any]) -> np.ndarray:
    """Each value's position in `classes`, compared as text; -1 for a value not among them."""
    labels, inverse = np.unique(np.asarray(values), return_inverse=True)
    position = {str(label): i for i, label in enumerate(classes)}
    return np.array([position.get(str(label), -1) for label in labels], dtype=int)[inverse.ravel()]


def predictions_from_frame(frame: Any, task: str, classes: list[Any]) -> Predictions:
    """A predictions table (target, prediction, proba_<class>) as the arrays the metrics read."""
    if task == "regression":
        return Predictions(task, frame["target"].to_numpy(float), frame["prediction"].to_numpy(float))
    y_true, y_pred = class_indices(frame["target"], classes), class_indices(frame["prediction"], classes)
    if (y_true < 0).any() or (y_pred < 0).any():
        known = {str(label) for label in classes}
        unknown = sorted({str(v) for v in [*frame["target"], *frame["prediction"]]} - known)
        raise DataValidationError(f"the test set has classes the model never saw: {', '.join(unknown)}")
    columns = [proba_column(label) for label in classes]
    proba = frame[columns].to_numpy(float) if all(c in frame for c in columns) else None
    return Predictions(task, y_true, y_pred, proba)


def usable_metrics(names: list[str], predictions: Predictions) -> list[str]:
    """Drop probability metrics when the estimator gives no probabilities."""
    return [n for n in names if predictions.proba is not None or n not in NEEDS_PROBA]


def metric_block(names: list[str], predictions: Predictions, bootstrap: dict[str, Any]) -> dict[str, Any]:
    """Point values with percentile bootstrap confidence intervals, as metrics.json holds them."""
    values = point_scores(names, predictions)
    block: dict[str, Any] = {name: {"value": value} for name, value in values.items()}
    samples = bootstrap["samples"]
    if samples:
        with step(f"bootstrap {samples} resamples × {predictions.rows} rows", total=samples) as advance:
            intervals = bootstrap_intervals(
                names, predictions, samples, bootstrap["confidence"], bootstrap["seed"], advance
            )
        for name, (low, high) in intervals.items():
            block[name].update(ci_low=low, ci_high=high)
    return block
