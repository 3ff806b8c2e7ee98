"""Sources as Dask DataFrames, partition-wise reductions, and partitioned Parquet outputs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from mlgate.datasets.missing import NA_TOKENS
from mlgate.datasets.sources import FIELD, table_files, table_kind
from mlgate.errors import DataValidationError

T = TypeVar("T")


def read_source(source: str, root: Path, partition_mb: int) -> Any:
    """A folder, glob, file or s3:// URL of CSV or Parquet files as one Dask DataFrame, read by the
    workers; a CSV's missing-value tokens are the data stage's own."""
    import dask
    import dask.dataframe as dd

    dask.config.set({"dataframe.convert-string": False})  # text as pandas reads it, as the local engine
    files = table_files(source, root)
    try:
        size = f"{partition_mb}MiB"
        if table_kind(files) == "parquet":
            return dd.read_parquet(files, split_row_groups="adaptive", blocksize=size)
        frame = dd.read_csv(
            files, blocksize=size, keep_default_na=False, na_values=list(NA_TOKENS), assume_missing=True
        )
    except Exception as exc:  # dask, fsspec and pyarrow raise many types for an unreadable source
        raise DataValidationError(f"{FIELD}: {source}: cannot read: {exc}") from None
    return _integers_as_pandas_reads_them(frame)


def _integral(part: pd.DataFrame, columns: list[str]) -> dict[str, bool]:
    return {c: bool(part[c].notna().all() and (part[c] % 1 == 0).all()) for c in columns}


def _integers_as_pandas_reads_them(frame: Any) -> Any:
    """A CSV's columns read as floats (a later block may hold a missing value), turned back into integers
    where every value is a whole number and none is missing, as pandas reads the whole file."""
    floats = [str(c) for c, kind in frame.dtypes.items() if kind == "float64"]
    if not floats:
        return frame
    whole = merged(frame, _integral, lambda a, b: {c: a[c] and b[c] for c in a}, floats)
    integers = {column: "int64" for column, flag in whole.items() if flag}
    return frame.astype(integers) if integers else frame


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
    """The partitions' summaries added up with `merge`, in pairs on the workers (a tree), so that no
    worker holds more than a few summaries at once and only the total comes back."""

    return reduce_tree(summaries(frame, summarise, *args), merge)


def summaries(frame: Any, summarise: Callable[..., T], *args: Any) -> list[Any]:
    """`summarise(partition, *args)` for every partition, as delayed values, not yet computed."""
    import dask

    return [dask.delayed(summarise)(part, *args) for part in frame.to_delayed()]


def tree(level: list[Any], merge: Callable[[T, T], T]) -> Any:
    """Delayed values merged pairwise, in order: the delayed total, not yet computed."""
    import dask

    while len(level) > 1:
        pairs = [dask.delayed(merge)(a, b) for a, b in zip(level[::2], level[1::2], strict=False)]
        level = pairs + ([level[-1]] if len(level) % 2 else [])
    return level[0]


def reduce_tree(level: list[Any], merge: Callable[[T, T], T]) -> T:
    """Delayed values merged pairwise, in order, and computed."""
    (total,) = computed(tree(level, merge))
    result: T = total
    return result


def computed(*totals: Any) -> tuple[Any, ...]:
    """Delayed values computed together, in one pass over what they share."""
    import dask

    try:
        return tuple(dask.compute(*totals))
    except (ValueError, TypeError, OSError) as exc:  # a partition that does not parse as the first did
        raise DataValidationError(f"{FIELD}: a partition cannot be read as the first was: {exc}") from None


def write_parquet(frames: list[Any], folders: list[Path]) -> None:
    """Write Dask DataFrames as partitioned Parquet folders (part.00000.parquet, …), one file per
    partition, in one pass over what they are computed from."""
    import dask

    writes = [
        frame.to_parquet(
            str(folder),
            write_index=False,
            write_metadata_file=False,
            compute=False,
            name_function=lambda number: f"part.{number:05d}.parquet",  # name order is partition order
        )
        for frame, folder in zip(frames, folders, strict=True)
    ]
    dask.compute(*writes)
