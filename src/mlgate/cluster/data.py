"""The data stage on the cluster: expectations, row ids and the hash split partition by partition, the
splits written as partitioned Parquet folders, then profiled from those folders."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlgate.cluster.frames import merged, per_partition, read_prepared, read_source, write_parquet
from mlgate.cluster.profile import (
    digest_of,
    merge_digest,
    profile_and_summary,
    rows_digest,
)
from mlgate.datasets.expectations import check_facts, data_facts, merge_facts
from mlgate.datasets.schema import ROW_ID, FeatureSchema, check_columns, infer_schema
from mlgate.errors import DataValidationError
from mlgate.fsio import OutputSet
from mlgate.progress import step
from mlgate.project import Project
from mlgate.rowhash import in_test


def _content(part: pd.DataFrame) -> pd.Series:
    return pd.util.hash_pandas_object(part, index=False)


Unique = tuple[np.ndarray, np.ndarray]  # a partition's distinct row hashes and how often each occurs
UNIQUE_SHARE = 0.02  # of a worker's memory, which all rows' hashes may take to be merged in the first pass


def _unique(hashes: np.ndarray) -> Unique:
    values, counts = np.unique(hashes, return_counts=True)
    return values, counts


def _merge_unique(a: Unique, b: Unique) -> Unique:
    values, inverse = np.unique(np.concatenate([a[0], b[0]]), return_inverse=True)
    return values, np.bincount(inverse, np.concatenate([a[1], b[1]])).astype(np.int64)


def _counted_with_expectations(frame: Any, id_column: str | None) -> bool:
    """Whether the first pass also finds the repeated rows: when every row's hash fits in UNIQUE_SHARE of
    the smallest worker's memory (rows estimated from the first partition); else a pass of its own."""
    if id_column is not None:
        return False
    from distributed import default_client

    limits = [w.get("memory_limit") or 0 for w in default_client().scheduler_info()["workers"].values()]
    rows = len(frame.get_partition(0)) * frame.npartitions
    return bool(limits) and all(limits) and 16 * rows <= UNIQUE_SHARE * min(limits)


def _repeats(frame: Any, repeated: set[int] | None) -> list[dict[int, int]]:
    """For rows whose content repeats, how many copies each partition's predecessors hold, so that
    identical rows get distinct ids numbered in row order, as the local engine numbers them. `repeated`:
    the hashes that repeat, when the first pass found them."""
    if repeated is None:
        counts = frame.map_partitions(_content, meta=("content", "uint64")).value_counts()
        repeated = set(counts[counts > 1].compute().index.tolist())
    if not repeated:
        return [{}] * frame.npartitions
    wanted = repeated
    seen = per_partition(
        frame, lambda part: _content(part)[lambda c: c.isin(wanted)].value_counts().to_dict()
    )
    offsets: list[dict[int, int]] = []
    running: dict[int, int] = {}
    for part in seen:
        offsets.append(dict(running))
        for key, count in part.items():
            running[key] = running.get(key, 0) + count
    return offsets


def _with_ids(
    part: pd.DataFrame, id_column: str | None, offsets: list[dict[int, int]], partition_info: Any = None
) -> pd.DataFrame:
    if id_column is not None:
        ids = pd.util.hash_pandas_object(part[id_column].astype(str), index=False)
    else:
        content = _content(part)
        repeat = content.groupby(content).cumcount()
        start = offsets[partition_info["number"]] if partition_info else {}
        if start:
            repeat = repeat + content.map(start).fillna(0).astype(int)
        ids = pd.util.hash_pandas_object(pd.DataFrame({"c": content, "r": repeat}), index=False)
    return part.assign(**{ROW_ID: ids.to_numpy().view(np.int64)})


def with_row_ids(frame: Any, id_column: str | None, repeated: set[int] | None = None) -> Any:
    """Add `row_id` exactly as the local engine does: the id column's hash, else the content's (with
    `repeated`, the hashes that repeat, when already known)."""
    if id_column is not None:
        if id_column not in frame.columns:
            raise DataValidationError(f"data: id_column {id_column!r} is not a column")
        if int(frame[id_column].value_counts().max().compute()) > 1:
            raise DataValidationError(f"data: id_column {id_column!r} has duplicate values")
    offsets = [] if id_column is not None else _repeats(frame, repeated)
    meta = frame._meta.assign(**{ROW_ID: np.zeros(0, dtype=np.int64)})
    return frame.map_partitions(_with_ids, id_column, offsets, meta=meta)


def _side(part: pd.DataFrame, test_size: float, seed: int, test: bool) -> pd.DataFrame:
    mask = in_test(part[ROW_ID].to_numpy(), test_size, seed)
    return part[mask if test else ~mask]


def load_checked(params: dict[str, Any], project: Project) -> tuple[Any, FeatureSchema, str, set[int] | None]:
    """The source as a Dask DataFrame, its expectations checked on every partition, its rows' digest and,
    when they fit (_counted_with_expectations), the hashes of its repeated rows, all in the same pass."""
    data = params["data"]
    with step(f"read {data['source']} on the cluster"):
        frame = read_source(data["source"], project.root, params["compute"]["partition_mb"])
        columns = [str(column) for column in frame.columns]
        check_columns(columns, data["source"])
        frame.columns = columns
    schema = infer_schema(frame._meta, data, params["model"]["task"])
    count = _counted_with_expectations(frame, data["id_column"])
    with step(f"check expectations on {frame.npartitions} partition(s)"):
        facts, digest, unique = merged(frame, _checked, _merge_checked, data["expectations"], schema, count)
    check_facts(facts, data["expectations"], schema)
    repeated = None if unique is None else set(unique[0][unique[1] > 1].tolist())
    return frame, schema, rows_digest(digest, list(frame.columns)), repeated


def _checked(
    part: pd.DataFrame, expectations: dict[str, Any], schema: FeatureSchema, count: bool
) -> tuple[Any, Any, Unique | None]:
    hashes = _content(part).to_numpy()
    return data_facts(part, expectations, schema), digest_of(hashes), _unique(hashes) if count else None


def _merge_checked(a: tuple[Any, Any, Any], b: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
    unique = None if a[2] is None else _merge_unique(a[2], b[2])
    return merge_facts(a[0], b[0]), merge_digest(a[1], b[1]), unique


def prepare(project: Project, params: dict[str, Any], outputs: OutputSet) -> tuple[FeatureSchema, Any, Any]:
    """Check, split and write both splits into `outputs` as partitioned folders; return the schema, the
    summary (reports/data.json) and the reference profile, taken from the written folders."""
    data, files = params["data"], project.files
    frame, schema, data_hash, repeated = load_checked(params, project)
    with step("number repeated rows"):
        frame = with_row_ids(frame, data["id_column"], repeated)
    split = data["split"]
    train = frame.map_partitions(_side, split["test_size"], split["seed"], False)
    test = frame.map_partitions(_side, split["test_size"], split["seed"], True)
    for path in (files.train, files.test):
        outputs.folder(path, lambda temp: None)
    folders = [outputs.pending_path(path) for path in (files.train, files.test)]
    with step("split and write the prepared Parquet folders"):
        write_parquet([train, test], folders)
    written = [read_prepared(folder) for folder in folders]
    with step("profile the splits"):
        hashes = (data_hash, data["id_column"])
        profile, summary = profile_and_summary(written[0], written[1], schema, data["profile"], hashes)
    if not summary["train_rows"] or not summary["test_rows"]:
        raise DataValidationError(f"data: data.split {split} leaves an empty train or test split")
    return schema, summary, profile
