"""Metrics as weighted sums over test rows, so one code path gives point values and bootstrap CIs.

A bootstrap resample is a row of counts `W[b, i]` (how often row i was drawn). Every metric here is
computed for all resamples at once from such a weight matrix with matrix products, which is what makes
1,000 resamples of 100k+ rows cheap. A point estimate is the same computation with `W = ones`.

Each metric equals scikit-learn's on the rows a resample drew (weight > 0), with the counts as
`sample_weight` (tests/test_metrics_property.py). For multiclass precision, recall and f1 the average
runs over the labels present in those rows' truth or predictions, as scikit-learn's does; one-vs-rest
roc_auc leaves out a class with no positives or no negatives there, where scikit-learn has no value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
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
# The value no model can beat: a metric there on both sides cannot show a regression.
BEST_VALUE = {"accuracy": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0, "roc_auc": 1.0}
BEST_VALUE |= {"log_loss": 0.0, "rmse": 0.0, "mae": 0.0, "r2": 1.0}
AVERAGED = ("precision", "recall", "f1", "roc_auc")  # averaged over classes for multiclass
AVERAGES = ("macro", "weighted", "micro")
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


def display_name(name: str, average: str | None) -> str:
    """A metric as the report names it: `f1 (macro)` when it is averaged over classes."""
    return f"{name} ({average})" if average and name in AVERAGED else name


@dataclass(frozen=True)
class Predictions:
    """Test-set outcomes in a form every metric reads: class indices or values, and probabilities.

    `labels` is how many classes the model knows; with more than two, `average` says how precision,
    recall, f1 and roc_auc average over them (macro, weighted or micro).
    """

    task: str
    y_true: np.ndarray  # class index (classification) or value (regression)
    y_pred: np.ndarray
    proba: np.ndarray | None = None  # rows × classes, classification only
    labels: int = 0  # 0: as many as the probabilities have columns, else as the class indices reach
    average: str = "macro"
    row_ids: np.ndarray | None = None  # the rows' ids, which the Poisson bootstrap keys its weights by

    def __post_init__(self) -> None:
        if self.task == "classification" and not self.labels:
            known = self.proba.shape[1] if self.proba is not None else 0
            reached = int(max(self.y_true.max(), self.y_pred.max())) + 1 if self.rows else 0
            object.__setattr__(self, "labels", max(known, reached))

    @property
    def rows(self) -> int:
        return len(self.y_true)

    @property
    def multiclass(self) -> bool:
        return self.labels > 2

    @property
    def class_average(self) -> str | None:
        """The averaging that applies: None for a binary model or a regression."""
        return self.average if self.multiclass else None

    def take(self, mask: np.ndarray) -> Predictions:
        """The predictions of a subset of rows."""
        proba = None if self.proba is None else self.proba[mask]
        ids = None if self.row_ids is None else self.row_ids[mask]
        return replace(self, y_true=self.y_true[mask], y_pred=self.y_pred[mask], proba=proba, row_ids=ids)


def _onehot(index: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(index), k))
    out[np.arange(len(index)), index] = 1.0
    return out


def _confusion_counts(p: Predictions, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted true positives, predicted and actual counts per class: each B × classes."""
    actual, predicted = _onehot(p.y_true, p.labels), _onehot(p.y_pred, p.labels)
    return w @ (actual * predicted), w @ predicted, w @ actual


def divide(num: np.ndarray, den: np.ndarray, empty: float = 0.0) -> np.ndarray:
    """Divide, with `empty` where the denominator is 0 (0 is scikit-learn's zero_division)."""
    return np.divide(num, den, out=np.full(np.shape(num), empty, dtype=float), where=den > 0)


def _per_class(p: Predictions, w: np.ndarray, kind: str, shared: dict[str, Any]) -> np.ndarray:
    """Precision, recall or f1: of the positive (second) class when binary, else averaged over classes."""
    if "counts" not in shared:  # one confusion count serves precision, recall and f1
        shared["counts"] = _confusion_counts(p, w)
    return per_class_from_counts(kind, shared["counts"], p.class_average)


def per_class_from_counts(
    kind: str, counts: tuple[np.ndarray, np.ndarray, np.ndarray], average: str | None
) -> np.ndarray:
    """Precision, recall or f1 from weighted (true positive, predicted, actual) counts, B × classes:
    of the second class when `average` is None (binary), else averaged over classes that way."""
    tp, predicted, actual = counts
    num, den = {"precision": (tp, predicted), "recall": (tp, actual)}.get(kind, (2 * tp, predicted + actual))
    if average is None:
        return divide(num[:, 1], den[:, 1])
    if average == "micro":
        return divide(num.sum(axis=1), den.sum(axis=1))
    values = divide(num, den)
    weights = actual if average == "weighted" else ((predicted + actual) > 0).astype(float)
    return divide((values * weights).sum(axis=1), weights.sum(axis=1))


def _auc(score: np.ndarray, positive: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted ROC AUC for every resample, with ties counted half as sklearn does; NaN when undefined."""
    order = np.argsort(score, kind="stable")
    sorted_score = score[order]
    starts = np.flatnonzero(np.r_[True, sorted_score[1:] != sorted_score[:-1]])
    w_sorted = w[:, order]
    pos = positive[order].astype(float)
    group_pos, group_neg = w_sorted * pos, w_sorted * (1.0 - pos)
    if len(starts) < len(score):  # tied scores form one group each
        group_pos, group_neg = (
            np.add.reduceat(group_pos, starts, axis=1),
            np.add.reduceat(group_neg, starts, axis=1),
        )
    neg_below = np.cumsum(group_neg, axis=1) - group_neg
    area = (group_pos * (neg_below + 0.5 * group_neg)).sum(axis=1)
    total = group_pos.sum(axis=1) * group_neg.sum(axis=1)
    return divide(area, total, empty=np.nan)


def class_aucs(p: Predictions, w: np.ndarray) -> np.ndarray:
    """One-vs-rest AUC of every class, classes × B; NaN for a class with no positives or no negatives."""
    assert p.proba is not None
    return np.vstack([_auc(p.proba[:, c], p.y_true == c, w) for c in range(p.labels)])


def _roc_auc(p: Predictions, w: np.ndarray) -> np.ndarray:
    assert p.proba is not None
    if not p.multiclass:
        return _auc(p.proba[:, 1], p.y_true == 1, w)
    if p.average == "micro":
        truth = _onehot(p.y_true, p.labels).ravel() > 0
        return _auc(p.proba.ravel(), truth, np.repeat(w, p.labels, axis=1))
    aucs = class_aucs(p, w)
    defined = ~np.isnan(aucs)
    support = (w @ _onehot(p.y_true, p.labels)).T if p.average == "weighted" else np.ones_like(aucs)
    weights = np.where(defined, support, 0.0)
    return divide((np.where(defined, aucs, 0.0) * weights).sum(axis=0), weights.sum(axis=0), np.nan)


def _log_loss(p: Predictions, w: np.ndarray) -> np.ndarray:
    assert p.proba is not None
    eps = np.finfo(p.proba.dtype).eps
    loss = -np.log(np.clip(p.proba[np.arange(p.rows), p.y_true], eps, 1 - eps))
    return (w @ loss) / w.sum(axis=1)


def _squared(p: Predictions, w: np.ndarray) -> np.ndarray:
    return (w @ (p.y_true - p.y_pred) ** 2) / w.sum(axis=1)


def _r2(p: Predictions, w: np.ndarray) -> np.ndarray:
    """1 − residual / total sum of squares, as scikit-learn computes it: for a constant truth 1 when the fit
    is perfect and 0 otherwise, and undefined (NaN) on fewer than two rows."""
    mean = (w @ p.y_true) / w.sum(axis=1)
    total = np.einsum("bi,bi->b", w, (p.y_true[None, :] - mean[:, None]) ** 2)
    residual = w @ (p.y_true - p.y_pred) ** 2
    value = np.where(total > 0, 1.0 - divide(residual, total), np.where(residual > 0, 0.0, 1.0))
    return np.where((w > 0).sum(axis=1) >= 2, value, np.nan)


# Each scorer takes the predictions, the weights (resamples × rows) and a dict that the metrics of one
# `score` call share their intermediate results in.
SCORERS: dict[str, Callable[[Predictions, np.ndarray, dict[str, Any]], np.ndarray]] = {
    "accuracy": lambda p, w, _: (w @ (p.y_true == p.y_pred).astype(float)) / w.sum(axis=1),
    "precision": lambda p, w, shared: _per_class(p, w, "precision", shared),
    "recall": lambda p, w, shared: _per_class(p, w, "recall", shared),
    "f1": lambda p, w, shared: _per_class(p, w, "f1", shared),
    "roc_auc": lambda p, w, _: _roc_auc(p, w),
    "log_loss": lambda p, w, _: _log_loss(p, w),
    "rmse": lambda p, w, _: np.sqrt(_squared(p, w)),
    "mae": lambda p, w, _: (w @ np.abs(p.y_true - p.y_pred)) / w.sum(axis=1),
    "r2": lambda p, w, _: _r2(p, w),
}


def score(
    names: list[str], predictions: Predictions, weights: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Every named metric for each row of `weights` (resamples × rows); ones when omitted."""
    w = np.ones((1, predictions.rows)) if weights is None else weights
    shared: dict[str, Any] = {}
    return {name: SCORERS[name](predictions, w, shared) for name in names}


def point_scores(names: list[str], predictions: Predictions) -> dict[str, float]:
    """Every named metric on the rows as they are."""
    return {name: float(values[0]) for name, values in score(names, predictions).items()}


def averaged_over(name: str, p: Predictions) -> int | None:
    """How many classes a class-averaged metric averaged over on these rows; None when not averaged."""
    if not p.multiclass or name not in AVERAGED or p.average == "micro":
        return None
    if name == "roc_auc":
        ones = np.ones((1, p.rows))
        return int((~np.isnan(class_aucs(p, ones))).sum()) if p.proba is not None else None
    present = np.union1d(p.y_true, p.y_pred)
    return len(present) if p.average == "macro" else len(np.unique(p.y_true))


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


def predictions_from_frame(frame: Any, task: str, classes: list[Any], average: str = "macro") -> Predictions:
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
    return Predictions(task, y_true, y_pred, proba, labels=len(classes), average=average)


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
    for name in names:
        if (used := averaged_over(name, predictions)) is not None:
            block[name].update(classes=used, of=predictions.labels)
    return block
