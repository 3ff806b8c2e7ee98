"""mlgate's weighted metrics equal scikit-learn's with `sample_weight`, at integer weights, on random data.

A bootstrap resample is a vector of integer counts, so each metric is checked against scikit-learn on
the rows drawn (weight > 0) with the counts as sample weights: binary, multiclass and regression data,
rows that miss some classes (a slice, a resample, a small test set), every metric and every averaging.
scikit-learn has no one-vs-rest roc_auc for a class without positives or negatives, so the reference
for multiclass roc_auc is written here: the classes that have both, averaged as the averaging says.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from mlgate.metrics import AVERAGES, METRICS_BY_TASK, Predictions, averaged_over, score

TOLERANCE = 1e-9


@st.composite
def classification(draw: st.DrawFn) -> tuple[Predictions, np.ndarray]:
    """Random labels, probabilities and integer weights; the truth may use only some of the classes."""
    labels = draw(st.integers(2, 5))
    rows = draw(st.integers(2, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    present = draw(st.integers(1, labels))  # how many classes the truth uses
    y_true = rng.choice(rng.permutation(labels)[:present], size=rows)
    y_pred = np.where(rng.random(rows) < 0.6, y_true, rng.integers(0, labels, rows))
    counts = rng.integers(0, draw(st.sampled_from([3, 100, 10**9])), size=(rows, labels)) + 1  # few: ties
    proba = counts / counts.sum(axis=1, keepdims=True)
    weights = rng.integers(0, 4, rows).astype(float)
    weights[rng.integers(rows)] = max(weights.max(), 1.0)
    average = draw(st.sampled_from(AVERAGES))
    return Predictions("classification", y_true, y_pred, proba, labels=labels, average=average), weights


@st.composite
def regression(draw: st.DrawFn) -> tuple[Predictions, np.ndarray]:
    rows = draw(st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = 10.0 ** draw(st.integers(-3, 4))
    y_true = rng.normal(size=rows) * scale
    if draw(st.booleans()):
        y_true = np.round(y_true)  # repeated values, and sometimes a constant truth
    y_pred = y_true + rng.normal(size=rows) * scale * draw(st.sampled_from([0.0, 0.1, 1.0]))
    weights = rng.integers(0, 4, rows).astype(float)
    weights[rng.integers(rows)] = max(weights.max(), 1.0)
    return Predictions("regression", y_true, y_pred), weights


def _ovr_auc(p: Predictions, w: np.ndarray) -> float:
    """The one-vs-rest roc_auc of the classes with positives and negatives, averaged as `p.average` says."""
    assert p.proba is not None
    if p.average == "micro":
        truth = np.eye(p.labels)[p.y_true].ravel()
        return float(skm.roc_auc_score(truth, p.proba.ravel(), sample_weight=np.repeat(w, p.labels)))
    values, supports = [], []
    for label in range(p.labels):
        positive = p.y_true == label
        if positive.any() and not positive.all():
            values.append(skm.roc_auc_score(positive, p.proba[:, label], sample_weight=w))
            supports.append(w[positive].sum())
    if not values:
        return float("nan")
    return float(np.average(values, weights=supports if p.average == "weighted" else None))


def reference(name: str, p: Predictions, w: np.ndarray) -> float:
    """scikit-learn's value of one metric on the rows with weight > 0."""
    y_true, y_pred, proba = p.y_true, p.y_pred, p.proba
    if name == "accuracy":
        return float(skm.accuracy_score(y_true, y_pred, sample_weight=w))
    if name in ("precision", "recall", "f1"):
        function = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[name]
        options = {"average": p.average} if p.multiclass else {"average": "binary", "pos_label": 1}
        return float(function(y_true, y_pred, sample_weight=w, zero_division=0, **options))
    if name == "roc_auc":
        if p.multiclass:
            return _ovr_auc(p, w)
        positive = y_true == 1
        if positive.all() or not positive.any():
            return float("nan")
        assert proba is not None
        return float(skm.roc_auc_score(positive, proba[:, 1], sample_weight=w))
    if name == "log_loss":
        return float(skm.log_loss(y_true, proba, labels=list(range(p.labels)), sample_weight=w))
    if name == "rmse":
        return float(skm.root_mean_squared_error(y_true, y_pred, sample_weight=w))
    if name == "mae":
        return float(skm.mean_absolute_error(y_true, y_pred, sample_weight=w))
    return float(skm.r2_score(y_true, y_pred, sample_weight=w))


def check_against_scikit_learn(p: Predictions, weights: np.ndarray) -> None:
    drawn = weights > 0
    names = list(METRICS_BY_TASK[p.task])
    ours = {name: float(values[0]) for name, values in score(names, p, weights[None, :]).items()}
    subset = p.take(drawn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns about ill-defined values it sets to 0
        expected = {name: reference(name, subset, weights[drawn]) for name in names}
    for name in names:
        assert ours[name] == pytest.approx(expected[name], rel=TOLERANCE, abs=TOLERANCE, nan_ok=True), (
            name,
            p.average,
        )


@settings(max_examples=400, deadline=None)
@given(classification())
def test_classification_metrics_equal_scikit_learn(case: tuple[Predictions, np.ndarray]) -> None:
    check_against_scikit_learn(*case)


@settings(max_examples=200, deadline=None)
@given(regression())
def test_regression_metrics_equal_scikit_learn(case: tuple[Predictions, np.ndarray]) -> None:
    check_against_scikit_learn(*case)


def test_a_group_predicted_perfectly_scores_one_whatever_classes_it_misses() -> None:
    y = np.array([0, 0, 1, 1, 0])  # a slice of a three-class problem: class 2 never appears
    proba = np.eye(3)[y] * 0.9 + 0.1 / 3
    for average in AVERAGES:
        p = Predictions("classification", y, y, proba, labels=3, average=average)
        scored = score(["accuracy", "precision", "recall", "f1"], p)
        values = {name: float(v[0]) for name, v in scored.items()}
        assert values == {"accuracy": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0}, average


def test_roc_auc_says_how_many_classes_it_averaged() -> None:
    y = np.array([0, 0, 1, 1])  # class 2 has no positives here, so it leaves the average
    proba = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.3, 0.5, 0.2]])
    p = Predictions("classification", y, y, proba, labels=3)
    assert averaged_over("roc_auc", p) == 2
    assert averaged_over("f1", p) == 2
    assert averaged_over("accuracy", p) is None
