"""Data profiles: the summary in reports/data.json and the monitoring reference profile."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from mlgate.datasets.schema import ROW_ID, FeatureSchema

OTHER = "__other__"
MAX_CATEGORY_CHARS = 200  # a longer category is pooled, not kept by name


def rows_hash(row_hashes: pd.Series, columns: pd.Index) -> str:
    """A sha256 over per-row content hashes, independent of row order and memory layout."""
    digest = hashlib.sha256(np.sort(row_hashes.to_numpy()).tobytes())
    digest.update("\x1f".join(map(str, columns)).encode())
    return digest.hexdigest()


def content_hash(frame: pd.DataFrame) -> str:
    """A sha256 over the rows' content, independent of row order."""
    return rows_hash(pd.util.hash_pandas_object(frame, index=False), frame.columns)


def target_summary(target: pd.Series, task: str) -> dict[str, Any]:
    """Class balance for classification, distribution stats for regression."""
    if task == "classification":
        counts = target.astype(str).value_counts().sort_index()
        return {"class_balance": {str(k): round(int(v) / len(target), 6) for k, v in counts.items()}}
    return {"target_stats": _numeric_stats(target)}


def _numeric_stats(values: pd.Series) -> dict[str, float]:
    clean = values.dropna().astype(float)
    if clean.empty:
        return {"mean": float("nan"), "std": float("nan"), "min": float("nan"), "max": float("nan")}
    return {
        "mean": float(clean.mean()),
        "std": float(clean.std(ddof=0)),
        "min": float(clean.min()),
        "max": float(clean.max()),
    }


def data_summary(
    train: pd.DataFrame, test: pd.DataFrame, schema: FeatureSchema, data_hash: str, id_column: str | None
) -> dict[str, Any]:
    """What reports/data.json holds: sizes, target balance or stats, content hashes, and how rows are told
    apart (`id_column`, else the hash of the row's values)."""
    target = pd.concat([train[schema.target], test[schema.target]], ignore_index=True)
    return {
        "rows": len(target),
        "train_rows": len(train),
        "test_rows": len(test),
        "columns": len(schema.features),
        "target": schema.target,
        "task": schema.task,
        **target_summary(target, schema.task),
        "data_hash": data_hash,
        "test_hash": content_hash(test[[ROW_ID, schema.target]]),
        "row_identity": {"id_column": id_column},
    }


def numeric_profile(values: pd.Series, bins: int) -> dict[str, Any]:
    """Counts over the column's own quantile bins; the edges are stored for the monitor."""
    clean = values.dropna().to_numpy(dtype=float)
    profile: dict[str, Any] = {
        "kind": "numeric",
        "null_rate": float(values.isna().mean()),
        **_numeric_stats(values),
    }
    if clean.size == 0:
        return {**profile, "edges": [], "counts": []}
    inner = np.unique(np.quantile(clean, np.linspace(0, 1, bins + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(inner, clean, side="right"), minlength=len(inner) + 1)
    return {**profile, "edges": inner.tolist(), "counts": counts.tolist()}


def categorical_profile(values: pd.Series, max_categories: int) -> dict[str, Any]:
    """Category frequencies, with rare categories, and any longer than MAX_CATEGORY_CHARS, pooled as
    `__other__`, so that no cell can make the profile large."""
    counts = values.dropna().astype(str).value_counts()
    short = counts[counts.index.str.len() <= MAX_CATEGORY_CHARS]
    kept = short.iloc[:max_categories]
    frequencies = {str(k): int(v) for k, v in kept.items()}
    if len(kept) < len(counts):
        frequencies[OTHER] = int(counts.sum() - kept.sum())
    return {"kind": "categorical", "null_rate": float(values.isna().mean()), "counts": frequencies}


def reference_profile(train: pd.DataFrame, schema: FeatureSchema, settings: dict[str, Any]) -> dict[str, Any]:
    """The monitoring reference: per-feature binned counts, null rates and stats of the train split."""
    features: dict[str, Any] = {}
    for column in schema.numeric:
        features[column] = numeric_profile(train[column], settings["bins"])
    for column in schema.categorical:
        features[column] = categorical_profile(train[column], settings["max_categories"])
    return {
        "rows": len(train),
        "target": schema.target,
        "task": schema.task,
        "target_profile": (
            categorical_profile(train[schema.target], settings["max_categories"])
            if schema.task == "classification"
            else numeric_profile(train[schema.target], settings["bins"])
        ),
        "features": features,
    }
