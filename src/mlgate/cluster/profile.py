"""The reference profile and the data summary, reduced partition by partition on the workers.

Numeric stats merge exactly (Chan's update of mean and M2); category counts add up; the quantile bin
edges come from merged sketches (mlgate.cluster.sketch), and the counts over those edges are exact.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from mlgate.cluster.frames import computed, merged, summaries, tree
from mlgate.cluster.sketch import Sketch, bin_edges, merge_sketches, rank_error, sketch
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
        "sketch": sketch(clean, distinct=False),
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
        "sketch": merge_sketches(a["sketch"], b["sketch"]),
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
    return [partial["sketch"]]


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


def _profiled(schema: FeatureSchema) -> tuple[list[str], list[str]]:
    """The numeric and the categorical columns of the profile, the target among them as its task says."""
    numeric = [*schema.numeric, *([schema.target] if schema.task == "regression" else [])]
    categorical = [*schema.categorical, *([schema.target] if schema.task == "classification" else [])]
    return numeric, categorical


def profile_and_summary(
    train: Any, test: Any, schema: FeatureSchema, settings: dict[str, Any], hashes: tuple[str, str | None]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The reference profile of the train split and what reports/data.json holds (`hashes`: the data's
    hash and the id column), from one pass over both splits and one more over train for the bin counts."""
    numeric, categorical = _profiled(schema)
    partials, tested = computed(
        tree(summaries(train, _partials, numeric, categorical), _merge_partials),
        tree(summaries(test, _test_partial, schema), _merge_tested),
    )
    summary = data_summary(partials, tested, schema, *hashes)
    return reference_profile(train, schema, settings, partials), summary


def reference_profile(
    train: Any, schema: FeatureSchema, settings: dict[str, Any], partials: dict[str, Partial]
) -> dict[str, Any]:
    """The monitoring reference of the train split, as `mlgate.datasets.profile.reference_profile` makes it
    in memory, with the quantile edges' rank error stated, from its merged partials."""
    numeric, _ = _profiled(schema)
    edges = {c: bin_edges(_sketches(partials[c]), settings["bins"]) for c in numeric if partials[c]["n"]}
    counts = merged(train, _bin_counts, lambda a, b: {c: a[c] + b[c] for c in a}, edges) if edges else {}

    def profile_of(column: str) -> dict[str, Any]:
        if column in numeric:
            return _numeric_profile(partials[column], edges.get(column, np.array([])), counts.get(column))
        return _categorical_profile(partials[column], settings["max_categories"])

    profile = {
        "rows": partials[""]["rows"],
        "target": schema.target,
        "task": schema.task,
        "target_profile": profile_of(schema.target),
        "features": {c: profile_of(c) for c in [*schema.numeric, *schema.categorical]},
        "quantile_rank_error": max((rank_error(_sketches(partials[c])) for c in edges), default=0.0),
    }
    return profile


Digest = tuple[int, int, int]


def digest_partial(part: pd.DataFrame) -> Digest:
    """One partition's share of `rows_digest`: the sum and xor of its row hashes, and its rows."""
    return digest_of(pd.util.hash_pandas_object(part, index=False).to_numpy())


def digest_of(hashes: np.ndarray) -> Digest:
    """`digest_partial` of rows whose hashes are already taken."""
    with np.errstate(over="ignore"):
        total = int(hashes.sum(dtype=np.uint64))
    return total, int(np.bitwise_xor.reduce(hashes)) if hashes.size else 0, hashes.size


def merge_digest(a: Digest, b: Digest) -> Digest:
    return (a[0] + b[0]) % (1 << 64), a[1] ^ b[1], a[2] + b[2]


def rows_digest(digest: Digest, columns: list[str]) -> str:
    """A sha256 over the rows' content that does not depend on their order or partitioning (the dask
    engine's; it differs from the local engine's sorted-hash digest)."""
    total, xor, rows = digest
    hashed = hashlib.sha256(f"rows-sum/1:{total}:{xor}:{rows}:".encode())
    hashed.update("\x1f".join(map(str, columns)).encode())
    return hashed.hexdigest()


def _test_partial(part: pd.DataFrame, schema: FeatureSchema) -> tuple[dict[str, Partial], Digest]:
    columns = ([], [schema.target]) if schema.task == "classification" else ([schema.target], [])
    return _partials(part, *columns), digest_partial(part[[ROW_ID, schema.target]])


def _merge_tested(a: tuple[dict[str, Partial], Digest], b: tuple[dict[str, Partial], Digest]) -> Any:
    return _merge_partials(a[0], b[0]), merge_digest(a[1], b[1])


def data_summary(
    train: dict[str, Partial],
    test: tuple[dict[str, Partial], Digest],
    schema: FeatureSchema,
    data_hash: str,
    id_column: str | None,
) -> dict[str, Any]:
    """What reports/data.json holds, as `mlgate.datasets.profile.data_summary` writes it, from the train
    split's profile partials and the test split's merged partials and digest."""
    tested, digest = test
    target = _merge_partials({"": train[""], schema.target: train[schema.target]}, tested)
    rows = target[""]["rows"]
    balance: dict[str, Any]
    if schema.task == "classification":
        counts = target[schema.target]["counts"].sort_index()
        balance = {"class_balance": {str(k): round(int(v) / rows, 6) for k, v in counts.items()}}
    else:
        stats = _numeric_profile(target[schema.target], np.array([]), None)
        balance = {"target_stats": {k: stats[k] for k in ("mean", "std", "min", "max")}}
    return {
        "rows": rows,
        "train_rows": train[""]["rows"],
        "test_rows": tested[""]["rows"],
        "columns": len(schema.features),
        "target": schema.target,
        "task": schema.task,
        **balance,
        "data_hash": data_hash,
        "test_hash": rows_digest(digest, [ROW_ID, schema.target]),
        "row_identity": {"id_column": id_column},
    }
