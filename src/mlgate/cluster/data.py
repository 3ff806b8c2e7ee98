"""The data stage on the cluster: expectations, row ids and the hash split partition by partition, the
splits written as partitioned Parquet folders, then profiled from those folders."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlgate.cluster.frames import merged, per_partition, read_prepared, read_source, write_parquet
from mlgate.cluster.profile import (
    data_summary,
    digest_partial,
    merge_digest,
    reference_profile,
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


def _repeats(frame: Any) -> list[dict[int, int]]:
    """For rows whose content repeats, how many copies each partition's predecessors hold, so that
    identical rows get distinct ids numbered in row order, as the local engine numbers them."""
    counts = frame.map_partitions(_content, meta=("content", "uint64")).value_counts()
    repeated = counts[counts > 1].compute()
    if repeated.empty:
        return [{}] * frame.npartitions
    wanted = set(repeated.index.tolist())
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


def with_row_ids(frame: Any, id_column: str | None) -> Any:
    """Add `row_id` exactly as the local engine does: the id column's hash, else the content's."""
    if id_column is not None:
        if id_column not in frame.columns:
            raise DataValidationError(f"data: id_column {id_column!r} is not a column")
        if int(frame[id_column].value_counts().max().compute()) > 1:
            raise DataValidationError(f"data: id_column {id_column!r} has duplicate values")
    offsets = [] if id_column is not None else _repeats(frame)
    meta = frame._meta.assign(**{ROW_ID: np.zeros(0, dtype=np.int64)})
    return frame.map_partitions(_with_ids, id_column, offsets, meta=meta)


def _side(part: pd.DataFrame, test_size: float, seed: int, test: bool) -> pd.DataFrame:
    mask = in_test(part[ROW_ID].to_numpy(), test_size, seed)
    return part[mask if test else ~mask]


def load_checked(params: dict[str, Any], project: Project) -> tuple[Any, FeatureSchema, str]:
    """The source as a Dask DataFrame, its expectations checked on every partition, and its rows' digest
    (taken in the same pass)."""
    data = params["data"]
    with step(f"read {data['source']} on the cluster"):
        frame = read_source(data["source"], project.root, params["compute"]["partition_mb"])
        columns = [str(column) for column in frame.columns]
        check_columns(columns, data["source"])
        frame.columns = columns
    schema = infer_schema(frame._meta, data, params["model"]["task"])
    with step(f"check expectations on {frame.npartitions} partition(s)"):
        facts, digest = merged(frame, _checked, _merge_checked, data["expectations"], schema)
    check_facts(facts, data["expectations"], schema)
    return frame, schema, rows_digest(digest, list(frame.columns))


def _checked(part: pd.DataFrame, expectations: dict[str, Any], schema: FeatureSchema) -> tuple[Any, Any]:
    return data_facts(part, expectations, schema), digest_partial(part)


def _merge_checked(a: tuple[Any, Any], b: tuple[Any, Any]) -> tuple[Any, Any]:
    return merge_facts(a[0], b[0]), merge_digest(a[1], b[1])


def prepare(project: Project, params: dict[str, Any], outputs: OutputSet) -> tuple[FeatureSchema, Any, Any]:
    """Check, split and write both splits into `outputs` as partitioned folders; return the schema, the
    summary (reports/data.json) and the reference profile, taken from the written folders."""
    data, files = params["data"], project.files
    frame, schema, data_hash = load_checked(params, project)
    with step("number repeated rows"):
        frame = with_row_ids(frame, data["id_column"])
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
        profile, partials = reference_profile(written[0], schema, data["profile"])
        summary = data_summary(partials, written[1], schema, data_hash, data["id_column"])
    if not summary["train_rows"] or not summary["test_rows"]:
        raise DataValidationError(f"data: data.split {split} leaves an empty train or test split")
    return schema, summary, profile
