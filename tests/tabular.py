"""Generated datasets unlike the example: multiclass with string categoricals and missing values, a
regression with a categorical, and an imbalanced binary one. Seeded, so every run sees the same rows.

Each has a group its model predicts perfectly (a slice value that decides the label), so per-slice
metrics can be checked against what they must be.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Dataset:
    """A CSV's rows and the params.yaml that trains on it."""

    name: str
    frame: pd.DataFrame
    params: dict[str, Any]
    slice_column: str
    perfect_group: str | None  # a value of slice_column whose rows the model gets all right
    collapse: dict[str, Any] = field(default_factory=dict)  # model.params that make the model useless


def _params(target: str, task: str, estimator: str, model_params: dict[str, Any], **extra: Any) -> dict:
    params: dict[str, Any] = {
        "data": {"source": "data/raw/data.csv", "target": target, "split": {"test_size": 0.3, "seed": 7}},
        "model": {"task": task, "estimator": estimator, "params": model_params, "seed": 0},
        "evaluate": {
            "bootstrap": {"samples": 200, "seed": 0},
            "permutation_importance": {"max_rows": 200, "repeats": 2},
        },
        "serve": {"trusted_types": []},
    }
    for section, values in extra.items():
        params.setdefault(section, {}).update(values)
    return params


def multiclass(rows: int = 900) -> Dataset:
    """Penguin-like: three string species from an island (string, with a missing habitat) and two sizes
    with missing values. Every bird on Torgersen is an Adelie, so that island is predicted perfectly."""
    rng = np.random.default_rng(3)
    island = rng.choice(["Biscoe", "Dream", "Torgersen"], rows, p=[0.45, 0.35, 0.2])
    species = np.where(
        island == "Torgersen",
        "Adelie",
        rng.choice(["Adelie", "Chinstrap", "Gentoo"], rows, p=[0.3, 0.3, 0.4]),
    )
    centre = {"Adelie": 38.0, "Chinstrap": 48.0, "Gentoo": 46.0}
    flipper_centre = {"Adelie": 190.0, "Chinstrap": 195.0, "Gentoo": 217.0}
    bill = np.array([centre[s] for s in species]) + rng.normal(0, 2.0, rows)
    flipper = np.array([flipper_centre[s] for s in species]) + rng.normal(0, 5.0, rows)
    habitat = np.where(species == "Gentoo", "rock", rng.choice(["sand", "grass"], rows)).astype(object)
    frame = pd.DataFrame(
        {"island": island, "habitat": habitat, "bill_mm": bill, "flipper_mm": flipper, "species": species}
    )
    frame.loc[rng.random(rows) < 0.08, "bill_mm"] = np.nan
    frame.loc[rng.random(rows) < 0.05, "habitat"] = None
    params = _params(
        "species",
        "classification",
        "sklearn.ensemble.HistGradientBoostingClassifier",
        {"max_iter": 60},
        evaluate={"slices": ["island"], "min_slice_rows": 20},
    )
    params["model"]["preprocessing"] = {"numeric_impute": "none", "scale": False}
    collapse = {"max_iter": 3, "learning_rate": 0.00001}
    return Dataset("multiclass", frame, params, "island", "Torgersen", collapse)


def regression(rows: int = 700) -> Dataset:
    """A price from a region (string) and two measurements, one with missing values."""
    rng = np.random.default_rng(5)
    region = rng.choice(["north", "south", "east", "west"], rows)
    area = rng.uniform(30, 200, rows)
    age = rng.uniform(0, 60, rows)
    offset = pd.Series(region).map({"north": 50.0, "south": 0.0, "east": 20.0, "west": -10.0}).to_numpy()
    price = 3.0 * area - 1.5 * age + offset + rng.normal(0, 15, rows)
    frame = pd.DataFrame({"region": region, "area": area, "age": age, "price": price})
    frame.loc[rng.random(rows) < 0.06, "age"] = np.nan
    params = _params(
        "price",
        "regression",
        "sklearn.ensemble.HistGradientBoostingRegressor",
        {"max_iter": 80},
        evaluate={"slices": ["region"], "min_slice_rows": 20},
    )
    collapse = {"max_iter": 1, "learning_rate": 0.00001}
    return Dataset("regression", frame, params, "region", None, collapse)


def imbalanced(rows: int = 2000) -> Dataset:
    """make_classification with 95% negatives, plus a `segment` whose `vip` rows are all positive."""
    from sklearn.datasets import make_classification

    features, label = make_classification(
        n_samples=rows, n_features=6, n_informative=4, weights=[0.95, 0.05], class_sep=1.5, random_state=11
    )
    frame = pd.DataFrame(features, columns=[f"x{i}" for i in range(6)])
    rng = np.random.default_rng(11)
    segment = rng.choice(["retail", "online"], rows).astype(object)
    vip = rng.random(rows) < 0.03
    segment[vip], label[vip] = "vip", 1
    frame["segment"], frame["churned"] = segment, label
    frame.loc[rng.random(rows) < 0.04, "x1"] = np.nan
    params = _params(
        "churned",
        "classification",
        "sklearn.linear_model.LogisticRegression",
        {"max_iter": 500},
        evaluate={"slices": ["segment"], "min_slice_rows": 15},
    )
    collapse = {"C": 0.000001}
    return Dataset("imbalanced", frame, params, "segment", "vip", collapse)


DATASETS = (multiclass, regression, imbalanced)
