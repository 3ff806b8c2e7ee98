"""Synthetic benchmark data: a classification table of a given size, written as Parquet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ESTIMATOR_PARAMS = {
    "max_iter": 50,
    "max_leaf_nodes": 31,
    "learning_rate": 0.1,
    "early_stopping": False,
    "random_state": 42,
}


def classification_table(rows: int, numeric: int = 16, categorical: int = 4, seed: int = 0) -> pd.DataFrame:
    """Numeric and categorical features with a target that depends on a few of them."""
    rng = np.random.default_rng(seed)
    data = {f"x{i:02d}": rng.normal(size=rows) for i in range(numeric)}
    for i in range(categorical):
        data[f"c{i}"] = rng.choice(np.array(["a", "b", "c", "d", "e"], dtype=object), rows)
    frame = pd.DataFrame(data)
    logit = frame["x00"] - 0.8 * frame["x01"] + 0.5 * frame["x02"] * frame["x03"] + (frame["c0"] == "a") * 0.7
    frame["target"] = (logit + rng.logistic(size=rows) * 0.8 > 0).astype(int)
    return frame


def write_table(path: Path, rows: int) -> Path:
    classification_table(rows).to_parquet(path, index=False)
    return path
