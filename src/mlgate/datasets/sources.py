"""Resolve `data.source` to a pandas DataFrame, and tell its columns cheaply."""

from __future__ import annotations

import csv
import glob
import importlib
import sys
from pathlib import Path

import pandas as pd

from mlgate.datasets.missing import read_csv
from mlgate.datasets.schema import check_columns
from mlgate.errors import ConfigError, DataValidationError, MissingDependencyError, MlgateError

BUNDLED = ("breast_cancer", "wine", "iris", "diabetes", "digits")
FIELD = "params.yaml: data.source"
TABLE_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def load_source(source: str, root: Path) -> pd.DataFrame:
    """The data a source names: `sklearn:<name>`, `python:<mod>:<fn>`, or CSV/Parquet files (one path, a
    folder, a glob or an s3:// URL, see `table_files`) read as one table."""
    if source.startswith("sklearn:"):
        return _load_bundled(source.removeprefix("sklearn:"))
    if source.startswith("python:"):
        return _load_python(source.removeprefix("python:"), root)
    files = table_files(source, root)
    if len(files) == 1 and not is_url(files[0]):
        return load_table(Path(files[0]), FIELD, shown=source)
    frames = [_read_file(name, source) for name in files]
    _same_columns(frames, files)
    return pd.concat(frames, ignore_index=True)


def is_url(source: str) -> bool:
    """Whether a source is read through fsspec (`s3://…`) rather than from the project folder."""
    return "://" in source


def table_files(source: str, root: Path) -> list[str]:
    """The CSV or Parquet files a source names, in name order: one file, every such file under a folder,
    the files a glob matches, or the same for an `s3://` URL. All of them must be one format."""
    names = _url_files(source) if is_url(source) else _local_files(source, root)
    if not names:
        raise ConfigError(f"{FIELD}: {source}: no .csv or .parquet file there")
    if len(names) == 1 and not is_url(names[0]) and not Path(names[0]).exists():
        raise ConfigError(f"{FIELD}: {source}: no such file or folder (if it is DVC-tracked, run `dvc pull`)")
    kinds = {name: TABLE_SUFFIXES.get(Path(name).suffix.lower()) for name in names}
    strays = [name for name, kind in kinds.items() if kind is None]
    if strays:
        raise ConfigError(f"{FIELD}: {source}: {strays[0]} is not a .csv or .parquet file")
    if len(set(kinds.values())) > 1:
        csv = next(name for name, kind in kinds.items() if kind == "csv")
        parquet = next(name for name, kind in kinds.items() if kind == "parquet")
        raise ConfigError(
            f"{FIELD}: {source}: mixes formats ({Path(csv).name} is CSV, {Path(parquet).name} Parquet); "
            "one source is one format"
        )
    return names


def table_kind(files: list[str]) -> str:
    """`csv` or `parquet`, for files `table_files` returned."""
    return TABLE_SUFFIXES[Path(files[0]).suffix.lower()]


def _local_files(source: str, root: Path) -> list[str]:
    if glob.has_magic(source):
        return [str(root / name) for name in sorted(glob.glob(source, root_dir=root, recursive=True))]
    path = root / source
    if path.is_dir():
        found = (p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES)
        return sorted(str(p) for p in found)
    return [str(path)]


def _url_files(source: str) -> list[str]:
    return url_files(source, FIELD, tuple(TABLE_SUFFIXES))


def url_files(source: str, field: str, suffixes: tuple[str, ...]) -> list[str]:
    """The files an fsspec URL names (one object, every file under a prefix, or a glob), sorted."""
    try:
        import fsspec

        fs, _, _ = fsspec.get_fs_token_paths(source)
        if glob.has_magic(source):
            found = fs.glob(source)
        elif fs.isdir(source):
            found = [p for p in fs.find(source) if Path(p).suffix.lower() in suffixes]
        else:
            found = [source] if fs.exists(source) else []
    except ImportError as exc:
        raise MissingDependencyError(f"{field}: {source}: needs `pip install mlgate[s3]` ({exc})") from None
    except Exception as exc:  # fsspec's backends raise their own types for a bad bucket or credentials
        raise ConfigError(f"{field}: {source}: cannot list: {exc}") from None
    protocol = source.split("://", 1)[0]
    return sorted(p if "://" in p else f"{protocol}://{p}" for p in found)


def _read_file(name: str, source: str) -> pd.DataFrame:
    kind = TABLE_SUFFIXES[Path(name).suffix.lower()]
    if not is_url(name):
        return load_table(Path(name), FIELD, shown=name)
    try:
        return read_csv(name) if kind == "csv" else pd.read_parquet(name)
    except Exception as exc:  # fsspec, pandas and pyarrow raise many types for a missing or bad object
        raise DataValidationError(f"{FIELD}: {name}: cannot read: {exc}") from None


def _same_columns(frames: list[pd.DataFrame], files: list[str]) -> None:
    first = list(frames[0].columns)
    for frame, name in zip(frames[1:], files[1:], strict=True):
        if list(frame.columns) != first:
            raise DataValidationError(
                f"{name}: its columns differ from {files[0]}'s; every file of a source must have the same"
            )


def header_columns(source: str, root: Path) -> list[str] | None:
    """The source's columns when they can be read without loading it: a file's header, a bundled set's."""
    if source.startswith("sklearn:"):
        name = source.removeprefix("sklearn:")
        return list(_load_bundled(name).columns) if name in BUNDLED else None
    if source.startswith("python:"):
        return None
    try:
        files = table_files(source, root)
    except MlgateError:
        return None  # the data stage reports a source it cannot list with its own message
    if is_url(files[0]):
        return None  # listing a bucket is cheap, reading it is not: the data stage checks it
    path = Path(files[0])
    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None or not path.is_file():
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
