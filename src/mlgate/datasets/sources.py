"""Resolve `data.source` to a pandas DataFrame."""

from __future__ import annotations

import importlib
from pathlib import Path

import pandas as pd

from mlgate.errors import ConfigError, DataValidationError

BUNDLED = ("breast_cancer", "wine", "iris", "diabetes", "digits")
FIELD = "params.yaml: data.source"


def load_source(source: str) -> pd.DataFrame:
    """Load the data a source string names: `sklearn:<name>`, a CSV/Parquet path, or `python:<mod>:<fn>`."""
    if source.startswith("sklearn:"):
        return _load_bundled(source.removeprefix("sklearn:"))
    if source.startswith("python:"):
        return _load_python(source.removeprefix("python:"))
    return load_table(Path(source), FIELD)


def _load_bundled(name: str) -> pd.DataFrame:
    if name not in BUNDLED:
        raise ConfigError(f"{FIELD}: unknown bundled dataset {name!r}; choose one of {', '.join(BUNDLED)}")
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    frame: pd.DataFrame = bunch.frame
    frame.columns = [str(column) for column in frame.columns]
    return frame


def _load_python(spec: str) -> pd.DataFrame:
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise ConfigError(f"{FIELD}: expected python:<module>:<function>, got python:{spec}")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{FIELD}: cannot import python:{spec}: {exc}") from None
    frame = function()
    if not isinstance(frame, pd.DataFrame):
        raise DataValidationError(f"{FIELD}: python:{spec} returned {type(frame).__name__}, not a DataFrame")
    return frame


def load_table(path: Path, field: str) -> pd.DataFrame:
    """Read a CSV or Parquet file, with a clear error for a missing or unreadable file."""
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".parquet", ".pq"}:
        raise ConfigError(f"{field}: {path}: expected a .csv or .parquet file, or sklearn:/python: source")
    if not path.is_file():
        raise ConfigError(f"{field}: {path}: file not found (if it is DVC-tracked, run `dvc pull`)")
    try:
        return pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except Exception as exc:  # pandas and pyarrow raise many types for a malformed file
        raise DataValidationError(f"{path}: cannot read: {exc}") from None
