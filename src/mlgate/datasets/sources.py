"""Resolve `data.source` to a pandas DataFrame, and tell its columns cheaply."""

from __future__ import annotations

import csv
import importlib
import sys
from pathlib import Path

import pandas as pd

from mlgate.datasets.missing import read_csv
from mlgate.datasets.schema import check_columns
from mlgate.errors import ConfigError, DataValidationError

BUNDLED = ("breast_cancer", "wine", "iris", "diabetes", "digits")
FIELD = "params.yaml: data.source"
TABLE_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def load_source(source: str, root: Path) -> pd.DataFrame:
    """The data a source names: `sklearn:<name>`, a CSV/Parquet path under `root`, or `python:<mod>:<fn>`."""
    if source.startswith("sklearn:"):
        return _load_bundled(source.removeprefix("sklearn:"))
    if source.startswith("python:"):
        return _load_python(source.removeprefix("python:"), root)
    return load_table(root / source, FIELD, shown=source)


def header_columns(source: str, root: Path) -> list[str] | None:
    """The source's columns when they can be read without loading it: a file's header, a bundled set's."""
    if source.startswith("sklearn:"):
        name = source.removeprefix("sklearn:")
        return list(_load_bundled(name).columns) if name in BUNDLED else None
    path = root / source
    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if source.startswith("python:") or kind is None or not path.is_file():
        return None
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        header = _csv_header(path)
    except (OSError, ValueError, UnicodeDecodeError):
        return None  # the data stage reports an unreadable file with its own message
    check_columns(header, source)  # a repeated name first: pandas would rename it, hiding the cause
    return header


def _load_bundled(name: str) -> pd.DataFrame:
    if name not in BUNDLED:
        raise ConfigError(f"{FIELD}: unknown bundled dataset {name!r}; choose one of {', '.join(BUNDLED)}")
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    frame: pd.DataFrame = bunch.frame
    frame.columns = [str(column) for column in frame.columns]
    return frame


def _load_python(spec: str, root: Path) -> pd.DataFrame:
    """Call `python:<module>:<function>`; the module is looked up in the project root first."""
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise ConfigError(f"{FIELD}: expected python:<module>:<function>, got python:{spec}")
    sys.path.insert(0, str(root))
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{FIELD}: cannot import python:{spec}: {exc}") from None
    finally:
        sys.path.remove(str(root))
    frame = function()
    if not isinstance(frame, pd.DataFrame):
        raise DataValidationError(f"{FIELD}: python:{spec} returned {type(frame).__name__}, not a DataFrame")
    return frame


def load_table(path: Path, field: str, shown: str | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet file, with a clear error for a missing or unreadable file."""
    name = shown or str(path)
    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(f"{field}: {name}: expected a .csv or .parquet file, or sklearn:/python: source")
    if not path.is_file():
        raise ConfigError(f"{field}: {name}: file not found (if it is DVC-tracked, run `dvc pull`)")
    if kind == "csv":
        check_columns(_csv_header(path), name)  # pandas would rename a repeated `a` to `a.1`
    try:
        return read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except Exception as exc:  # pandas and pyarrow raise many types for a malformed file
        raise DataValidationError(f"{name}: cannot read: {exc}") from None


def _csv_header(path: Path) -> list[str]:
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        return next(csv.reader(handle), [])
