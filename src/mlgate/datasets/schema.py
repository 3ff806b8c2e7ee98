"""The feature schema: which columns the model reads, and their kinds."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pandas.api import types as ptypes

from mlgate.errors import DataValidationError

ROW_ID = "row_id"


@dataclass(frozen=True)
class FeatureSchema:
    """Columns of the prepared data, as the train and evaluate stages and the service see them."""

    target: str
    task: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "numeric": list(self.numeric), "categorical": list(self.categorical)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSchema:
        return cls(data["target"], data["task"], tuple(data["numeric"]), tuple(data["categorical"]))


def check_columns(columns: list[str], shown: str) -> None:
    """Refuse a source whose column names repeat, or that has its own `row_id`, which mlgate writes."""
    counts = Counter(columns)
    repeated = [column for column, count in counts.items() if count > 1]
    if repeated:
        names = ", ".join(repr(c) for c in repeated)
        raise DataValidationError(f"{shown}: column name(s) given more than once: {names}; rename them")
    if ROW_ID in counts:
        raise DataValidationError(
            f"{shown}: has a column named {ROW_ID!r}, which mlgate reserves for the row identity it adds; "
            "rename it; data.id_column can then name it as the rows' id"
        )


def is_categorical(series: pd.Series) -> bool:
    """Text, boolean and category columns are categorical; numbers are not."""
    return not ptypes.is_numeric_dtype(series) or ptypes.is_bool_dtype(series)


def infer_schema(frame: pd.DataFrame, data: dict[str, Any], task: str) -> FeatureSchema:
    """Decide the feature columns and their kinds from config and the data's dtypes."""
    target = data["target"]
    excluded = {target, data["id_column"], ROW_ID, *data["drop"]}
    features = data["features"] or [column for column in frame.columns if column not in excluded]
    missing = [column for column in [target, *features] if column not in frame.columns]
    if missing:
        raise DataValidationError(f"data: missing column(s): {', '.join(missing)}")
    forced = set(data["categorical"])
    categorical = [c for c in features if c in forced or is_categorical(frame[c])]
    numeric = [c for c in features if c not in categorical]
    return FeatureSchema(target, task, tuple(numeric), tuple(categorical))


def read_prepared(split: Path, schema_file: Path, shown: str) -> tuple[pd.DataFrame, FeatureSchema]:
    """A prepared split (named `shown` in messages) and the feature schema the data stage wrote beside it."""
    if not split.exists() or not schema_file.is_file():
        raise DataValidationError(f"{shown}: not found; run the data stage first (`dvc repro data`)")
    schema = FeatureSchema.from_dict(json.loads(schema_file.read_text(encoding="utf-8")))
    return pd.read_parquet(split), schema


def prepared_columns(split: Path) -> list[str] | None:
    """The columns of a prepared split, read from its Parquet footer; None before the data stage ran."""
    if not split.exists():
        return None
    import pyarrow.dataset as ds

    try:  # a file, or the partitioned folder the dask engine writes
        return list(ds.dataset(split, format="parquet").schema.names)
    except (OSError, ValueError):
        return None
