"""The data stage: load the source, check expectations, split, profile, write data/prepared/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlgate.datasets.expectations import check_expectations
from mlgate.datasets.profile import data_summary, reference_profile, rows_hash
from mlgate.datasets.schema import ROW_ID, FeatureSchema, infer_schema
from mlgate.datasets.sources import load_source
from mlgate.errors import DataValidationError
from mlgate.fsio import output_set
from mlgate.progress import step

PREPARED = Path("data/prepared")
TRAIN_FILE = PREPARED / "train.parquet"
TEST_FILE = PREPARED / "test.parquet"
SCHEMA_FILE = PREPARED / "schema.json"
DATA_REPORT = Path("reports/data.json")
REFERENCE_PROFILE = Path("reports/reference_profile.json")


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


def split(
    frame: pd.DataFrame, schema: FeatureSchema, settings: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded train/test split, stratified for classification."""
    from sklearn.model_selection import train_test_split

    stratify = frame[schema.target] if schema.task == "classification" and settings["stratify"] else None
    try:
        train, test = train_test_split(
            frame, test_size=settings["test_size"], random_state=settings["seed"], stratify=stratify
        )
    except ValueError as exc:
        raise DataValidationError(f"data: cannot split with data.split {settings}: {exc}") from None
    return train.reset_index(drop=True), test.reset_index(drop=True)


def prepare(params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, FeatureSchema, str]:
    """Load, check and split the data as params.yaml says; also return the data's content hash."""
    data = params["data"]
    with step(f"load {data['source']}"):
        frame = load_source(data["source"])
    frame.columns = [str(column) for column in frame.columns]
    schema = infer_schema(frame, data, params["model"]["task"])
    check_expectations(frame, data["expectations"], schema)
    content = pd.util.hash_pandas_object(frame, index=False)
    frame = add_row_ids(frame, data["id_column"], content)
    train, test = split(frame, schema, data["split"])
    return train, test, schema, rows_hash(content, frame.columns)


def run(params: dict[str, Any]) -> None:
    """Run the data stage."""
    train, test, schema, data_hash = prepare(params)
    with step("profile train split"):
        profile = reference_profile(train, schema, params["data"]["profile"])
        summary = data_summary(train, test, schema, data_hash)
    with output_set() as outputs:
        outputs.parquet(TRAIN_FILE, train)
        outputs.parquet(TEST_FILE, test)
        outputs.json(SCHEMA_FILE, schema.to_dict())
        outputs.json(DATA_REPORT, summary)
        outputs.json(REFERENCE_PROFILE, profile)
    print(
        f"data: {summary['train_rows']} train / {summary['test_rows']} test rows, "
        f"{summary['columns']} features"
    )
