"""The reference profile and the data summary, reduced partition by partition on the workers.

Numeric stats merge exactly (Chan's update of mean and M2); category counts add up; the quantile bin
edges come from merged sketches (mlgate.cluster.sketch), and the counts over those edges are exact.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from mlgate.cluster.frames import merged
from mlgate.cluster.sketch import Sketch, bin_edges, rank_error, sketch
from mlgate.datasets.profile import MAX_CATEGORY_CHARS, OTHER
from mlgate.datasets.schema import ROW_ID, FeatureSchema

Partial = dict[str, Any]


def _numeric_partial(values: pd.Series) -> Partial:
    clean = values.dropna().to_numpy(dtype=float)
    mean = float(clean.mean()) if clean.size else 0.0
    return {
        "n": int(clean.size),
        "nulls": int(values.isna().sum()),
        "mean": mean,
        "m2": float(((clean - mean) ** 2).sum()),
        "min": float(clean.min()) if clean.size else np.inf,
        "max": float(clean.max()) if clean.size else -np.inf,
        "sketch": sketch(clean),
    }


def _merge_numeric(a: Partial, b: Partial) -> Partial:
    n = a["n"] + b["n"]
    delta = b["mean"] - a["mean"]
    mean = a["mean"] + delta * b["n"] / n if n else 0.0
    m2 = a["m2"] + b["m2"] + delta**2 * a["n"] * b["n"] / n if n else 0.0
    return {
        "n": n,
        "nulls": a["nulls"] + b["nulls"],
        "mean": mean,
        "m2": m2,
        "min": min(a["min"], b["min"]),
        "max": max(a["max"], b["max"]),
        "sketches": [*a.get("sketches", [a["sketch"]]), *b.get("sketches", [b["sketch"]])],
        "sketch": None,
    }


def _categorical_partial(values: pd.Series) -> Partial:
    return {
        "nulls": int(values.isna().sum()),
        "rows": len(values),
        "counts": values.dropna().astype(str).value_counts(),
    }


def _merge_categorical(a: Partial, b: Partial) -> Partial:
    counts = a["counts"].add(b["counts"], fill_value=0).astype(int)
    return {"nulls": a["nulls"] + b["nulls"], "rows": a["rows"] + b["rows"], "counts": counts}


def _partials(part: pd.DataFrame, numeric: list[str], categorical: list[str]) -> dict[str, Partial]:
    result = {c: _numeric_partial(part[c]) for c in numeric}
    result.update({c: _categorical_partial(part[c]) for c in categorical})
    return {**result, "": {"rows": len(part)}}


def _merge_partials(a: dict[str, Partial], b: dict[str, Partial]) -> dict[str, Partial]:
    merged_parts: dict[str, Partial] = {"": {"rows": a[""]["rows"] + b[""]["rows"]}}
    for column, partial in a.items():
        if column:
            merge = _merge_numeric if "mean" in partial else _merge_categorical
            merged_parts[column] = merge(partial, b[column])
    return merged_parts


def _sketches(partial: Partial) -> list[Sketch]:
    return partial.get("sketches") or [partial["sketch"]]


def _bin_counts(part: pd.DataFrame, edges: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    counts = {}
    for column, inner in edges.items():
        clean = part[column].dropna().to_numpy(dtype=float)
        counts[column] = np.bincount(np.searchsorted(inner, clean, side="right"), minlength=len(inner) + 1)
    return counts


def _numeric_profile(partial: Partial, edges: np.ndarray, counts: np.ndarray | None) -> dict[str, Any]:
    rows, n = partial["n"] + partial["nulls"], partial["n"]
    empty = float("nan")
    stats = {
        "mean": partial["mean"] if n else empty,
        "std": float(np.sqrt(partial["m2"] / n)) if n else empty,
        "min": partial["min"] if n else empty,
        "max": partial["max"] if n else empty,
    }
    profile = {"kind": "numeric", "null_rate": partial["nulls"] / rows if rows else 0.0, **stats}
    return {**profile, "edges": edges.tolist(), "counts": [] if counts is None else counts.tolist()}


def _categorical_profile(partial: Partial, max_categories: int) -> dict[str, Any]:
    counts = partial["counts"].sort_values(ascending=False, kind="stable")
    short = counts[counts.index.str.len() <= MAX_CATEGORY_CHARS]
    kept = short.iloc[:max_categories]
    frequencies = {str(k): int(v) for k, v in kept.items()}
    if len(kept) < len(counts):
        frequencies[OTHER] = int(counts.sum() - kept.sum())
    rows = partial["rows"]
    return {
        "kind": "categorical",
        "null_rate": partial["nulls"] / rows if rows else 0.0,
        "counts": frequencies,
    }


def reference_profile(train: Any, schema: FeatureSchema, settings: dict[str, Any]) -> dict[str, Any]:
    """The monitoring reference of the train split, as `mlgate.datasets.profile.reference_profile` makes it
    in memory, with the quantile edges' rank error stated."""
    numeric = [*schema.numeric, *([schema.target] if schema.task == "regression" else [])]
    categorical = [*schema.categorical, *([schema.target] if schema.task == "classification" else [])]
    partials = merged(train, _partials, _merge_partials, numeric, categorical)
    edges = {c: bin_edges(_sketches(partials[c]), settings["bins"]) for c in numeric if partials[c]["n"]}
    counts = merged(train, _bin_counts, lambda a, b: {c: a[c] + b[c] for c in a}, edges) if edges else {}

    def profile_of(column: str) -> dict[str, Any]:
        if column in numeric:
            return _numeric_profile(partials[column], edges.get(column, np.array([])), counts.get(column))
        return _categorical_profile(partials[column], settings["max_categories"])

    return {
        "rows": partials[""]["rows"],
        "target": schema.target,
        "task": schema.task,
        "target_profile": profile_of(schema.target),
        "features": {c: profile_of(c) for c in [*schema.numeric, *schema.categorical]},
        "quantile_rank_error": max((rank_error(_sketches(partials[c])) for c in edges), default=0.0),
    }


def _digest_partial(part: pd.DataFrame) -> tuple[int, int, int]:
    hashes = pd.util.hash_pandas_object(part, index=False).to_numpy()
    with np.errstate(over="ignore"):
        total = int(hashes.sum(dtype=np.uint64))
    return total, int(np.bitwise_xor.reduce(hashes)) if hashes.size else 0, hashes.size


def _merge_digest(a: tuple[int, int, int], b: tuple[int, int, int]) -> tuple[int, int, int]:
    return (a[0] + b[0]) % (1 << 64), a[1] ^ b[1], a[2] + b[2]


def rows_digest(frame: Any) -> str:
    """A sha256 over the rows' content that does not depend on their order or partitioning (the dask
    engine's; it differs from the local engine's sorted-hash digest)."""
    total, xor, rows = merged(frame, _digest_partial, _merge_digest)
    digest = hashlib.sha256(f"rows-sum/1:{total}:{xor}:{rows}:".encode())
    digest.update("\x1f".join(map(str, frame.columns)).encode())
    return digest.hexdigest()


def data_summary(
    train: Any, test: Any, schema: FeatureSchema, data_hash: str, id_column: str | None
) -> dict[str, Any]:
    """What reports/data.json holds, as `mlgate.datasets.profile.data_summary` writes it."""
    columns = ([], [schema.target]) if schema.task == "classification" else ([schema.target], [])
    partial = _merge_partials(*(merged(side, _partials, _merge_partials, *columns) for side in (train, test)))
    rows = partial[""]["rows"]
    balance: dict[str, Any]
    if schema.task == "classification":
        counts = partial[schema.target]["counts"].sort_index()
        balance = {"class_balance": {str(k): round(int(v) / rows, 6) for k, v in counts.items()}}
    else:
        stats = _numeric_profile(partial[schema.target], np.array([]), None)
        balance = {"target_stats": {k: stats[k] for k in ("mean", "std", "min", "max")}}
    return {
        "rows": rows,
        "train_rows": merged(train, len, int.__add__),
        "test_rows": merged(test, len, int.__add__),
        "columns": len(schema.features),
        "target": schema.target,
        "task": schema.task,
        **balance,
        "data_hash": data_hash,
        "test_hash": rows_digest(test[[ROW_ID, schema.target]]),
        "row_identity": {"id_column": id_column},
    }
