"""The data stage: load the source, check expectations, split, profile, write data/prepared/."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlgate.compute import Engine
from mlgate.datasets.expectations import check_expectations
from mlgate.datasets.profile import data_summary, reference_profile, rows_hash
from mlgate.datasets.schema import ROW_ID, FeatureSchema, check_columns, infer_schema
from mlgate.errors import DataValidationError
from mlgate.fsio import output_set
from mlgate.progress import step
from mlgate.project import Project


def add_row_ids(frame: pd.DataFrame, id_column: str | None, content: pd.Series) -> pd.DataFrame:
    """Add a stable `row_id`: the id column when given, else a hash of the row's content."""
    if id_column is not None:
        if id_column not in frame.columns:
            raise DataValidationError(f"data: id_column {id_column!r} is not a column")
        if frame[id_column].duplicated().any():
            raise DataValidationError(f"data: id_column {id_column!r} has duplicate values")
        ids = pd.util.hash_pandas_object(frame[id_column].astype(str), index=False)
    else:
        repeat = content.groupby(content).cumcount()  # identical rows get distinct ids
        ids = pd.util.hash_pandas_object(pd.DataFrame({"c": content, "r": repeat}), index=False)
    return frame.assign(**{ROW_ID: ids.to_numpy().view(np.int64)})


def prepare(
    project: Project, params: dict[str, Any], engine: Engine
) -> tuple[pd.DataFrame, pd.DataFrame, FeatureSchema, str]:
    """Load, check and split the data as params.yaml says; also return the data's content hash."""
    data = params["data"]
    with step(f"load {data['source']}"):
        frame = engine.load(data["source"], project.root)
    check_columns([str(column) for column in frame.columns], data["source"])
    frame.columns = [str(column) for column in frame.columns]
    schema = infer_schema(frame, data, params["model"]["task"])
    check_expectations(frame, data["expectations"], schema)
    content = pd.util.hash_pandas_object(frame, index=False)
    frame = add_row_ids(frame, data["id_column"], content)
    train, test = engine.split(frame, schema, data["split"])
    return train, test, schema, rows_hash(content, frame.columns)


def run(project: Project, params: dict[str, Any], engine: Engine) -> None:
    """Run the data stage."""
    files = project.files
    with output_set() as outputs:
        if engine.name == "dask":
            from mlgate.cluster import data as on_cluster

            schema, summary, profile = on_cluster.prepare(project, params, outputs)
        else:
            train, test, schema, data_hash = prepare(project, params, engine)
            with step("profile train split"):
                profile = reference_profile(train, schema, params["data"]["profile"])
                summary = data_summary(train, test, schema, data_hash, params["data"]["id_column"])
            outputs.parquet(files.train, train)
            outputs.parquet(files.test, test)
        outputs.json(files.schema, schema.to_dict())
        outputs.json(files.data_report, summary)
        outputs.json(files.profile, profile)
    where = " (on the cluster)" if engine.name == "dask" else ""
    print(
        f"data: {summary['train_rows']} train / {summary['test_rows']} test rows, "
        f"{summary['columns']} features{where}"
    )
