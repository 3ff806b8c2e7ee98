"""Fast paths for the common model shapes, each proven bit-for-bit equal to scikit-learn's at start-up.

scikit-learn's per-call overhead dominates small requests: a ColumnTransformer round trip through pandas
costs milliseconds, and a forest's predict_proba dispatches every tree through joblib. For numeric
imputer/scaler preprocessing and single-output forest classifiers the same arithmetic, in the same order,
is done here directly on numpy arrays. Each fast path is used only when it reproduces scikit-learn's output
exactly on probe data; otherwise the service falls back to scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def _numeric_steps(transformer: Any) -> list[Any] | None:
    """The steps of one ColumnTransformer block, when each is one this module can replay."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    steps = (
        []
        if transformer == "passthrough"
        else [s for _, s in transformer.steps]
        if isinstance(transformer, Pipeline)
        else [transformer]
    )
    for step in steps:
        if isinstance(step, SimpleImputer):
            # Replayed for NaN (a request's null) only, with every statistic known and no indicator columns.
            missing = step.missing_values
            if not (isinstance(missing, float) and np.isnan(missing)) or step.add_indicator:
                return None
            if np.isnan(np.asarray(step.statistics_, dtype=np.float64)).any():
                return None
        elif not isinstance(step, StandardScaler):
            return None
    return steps


def _replay(steps: list[Any], block: np.ndarray) -> np.ndarray:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    for step in steps:
        if isinstance(step, SimpleImputer):  # each missing value becomes its column's statistic
            missing = np.isnan(block)
            if missing.any():
                block[missing] = np.broadcast_to(step.statistics_, block.shape)[missing]
        elif isinstance(step, StandardScaler):  # the same in-place operations StandardScaler.transform does
            if step.with_mean:
                block -= step.mean_
            if step.with_std:
                block /= step.scale_
    return block


def numeric_transform(preprocess: Any, numeric: list[str]) -> Callable[[np.ndarray], np.ndarray] | None:
    """A numpy replay of a numeric-only ColumnTransformer of imputers and scalers, or None.

    It takes the checked request's numeric matrix, whose columns are the `numeric` features in order.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if not (isinstance(preprocess, Pipeline) and len(preprocess.steps) == 1):
        return None
    columns = preprocess.steps[0][1]
    if not isinstance(columns, ColumnTransformer):
        return None
    blocks = []
    for _, transformer, names in columns.transformers_:
        if transformer == "drop":
            continue
        if not set(names) <= set(numeric):  # a categorical block: scikit-learn's own transform runs
            return None
        steps = _numeric_steps(transformer)
        if steps is None:
            return None
        blocks.append(([numeric.index(name) for name in names], steps))

    def transform(numbers: np.ndarray) -> np.ndarray:
        # Indexing with a list copies, so the in-place replay leaves the request's matrix as it was.
        return np.hstack([_replay(steps, numbers[:, columns]) for columns, steps in blocks])

    return transform


def forest_proba(estimator: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """predict_proba of a single-output forest classifier without joblib's per-tree dispatch, or None.

    Each tree's leaf probabilities are normalised once here, as DecisionTreeClassifier.predict_proba does
    per call, so a prediction is one leaf lookup per tree, summed in the forest's order.
    """
    from sklearn.ensemble._forest import ForestClassifier

    if not isinstance(estimator, ForestClassifier) or estimator.n_outputs_ != 1:
        return None
    n_classes = int(estimator.n_classes_)
    trees = [(tree.tree_, _leaf_proba(tree.tree_, n_classes)) for tree in estimator.estimators_]

    def predict_proba(features: np.ndarray) -> np.ndarray:
        inputs = np.ascontiguousarray(features, dtype=np.float32)
        total = np.zeros((inputs.shape[0], n_classes), dtype=np.float64)
        for tree, leaf_proba in trees:  # ForestClassifier's order: sum the trees one by one, then divide
            total += leaf_proba.take(tree.apply(inputs), axis=0)
        total /= len(trees)
        return total

    return predict_proba


def _leaf_proba(tree: Any, n_classes: int) -> np.ndarray:
    """Every node's class probabilities, normalised as DecisionTreeClassifier.predict_proba does."""
    proba = np.array(tree.value[:, 0, :n_classes], dtype=np.float64)
    normalizer = proba.sum(axis=1)[:, np.newaxis]
    normalizer[normalizer == 0.0] = 1.0
    proba /= normalizer
    return proba


def proven(fast: Any, slow: Callable[[Any], Any], fast_input: Any, slow_input: Any) -> bool:
    """True when the fast path gives exactly scikit-learn's output on the probe."""
    if fast is None:
        return False
    try:
        return bool(np.array_equal(np.asarray(fast(fast_input)), np.asarray(slow(slow_input))))
    except (ValueError, TypeError, KeyError, IndexError):
        return False
