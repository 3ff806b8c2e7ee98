"""Sources as Dask DataFrames, partition-wise reductions, and partitioned Parquet outputs."""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from pathlib import Path
from typing import Any, TypeVar

from mlgate.datasets.missing import NA_TOKENS
from mlgate.datasets.sources import FIELD, table_files, table_kind
from mlgate.errors import DataValidationError

T = TypeVar("T")


def read_source(source: str, root: Path) -> Any:
    """A folder, glob, file or s3:// URL of CSV or Parquet files as one Dask DataFrame, read by the
    workers; a CSV's missing-value tokens are the data stage's own."""
    import dask
    import dask.dataframe as dd

    dask.config.set({"dataframe.convert-string": False})  # text as pandas reads it, as the local engine
    files = table_files(source, root)
    try:
        if table_kind(files) == "parquet":
            return dd.read_parquet(files)
        return dd.read_csv(files, keep_default_na=False, na_values=list(NA_TOKENS), assume_missing=True)
    except Exception as exc:  # dask, fsspec and pyarrow raise many types for an unreadable source
        raise DataValidationError(f"{FIELD}: {source}: cannot read: {exc}") from None


def read_prepared(path: Path) -> Any:
    """A prepared split (a Parquet file or a partitioned folder) as a Dask DataFrame."""
    import dask
    import dask.dataframe as dd

    dask.config.set({"dataframe.convert-string": False})
    return dd.read_parquet(str(path))


def per_partition(frame: Any, summarise: Callable[..., T], *args: Any) -> list[T]:
    """`summarise(partition, *args)` computed on the workers for every partition, in partition order."""
    import dask

    parts = frame.to_delayed()
    try:
        return list(dask.compute(*[dask.delayed(summarise)(part, *args) for part in parts]))
    except (ValueError, TypeError, OSError) as exc:  # a partition that does not parse as the first did
        raise DataValidationError(f"{FIELD}: a partition cannot be read as the first was: {exc}") from None


def merged(frame: Any, summarise: Callable[..., T], merge: Callable[[T, T], T], *args: Any) -> T:
    """The partitions' summaries added up with `merge`."""
    return reduce(merge, per_partition(frame, summarise, *args))


def write_parquet(frame: Any, folder: Path) -> None:
    """Write a Dask DataFrame as a partitioned Parquet folder (part.0.parquet, …), one file per partition."""
    frame.to_parquet(
        str(folder),
        write_index=False,
        write_metadata_file=False,
        name_function=lambda number: f"part.{number:05d}.parquet",  # name order is partition order
    )
