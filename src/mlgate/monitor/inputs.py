"""Read a batch of production data (CSV, Parquet or the service's JSONL log) in bounded chunks.

Every reader yields pyarrow tables of at most `chunk_rows` rows, holding only the columns asked for,
so the monitor's peak memory follows the chunk size, not the file size.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa

from mlgate.datasets.missing import NA_TOKENS, is_missing
from mlgate.errors import DataValidationError
from mlgate.fsio import shown

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
SAMPLE_BYTES = 1 << 16


Input = Path | str  # a local file, or an fsspec URL (s3://bucket/key) kept as text


def _kind(path: Input) -> str:
    return FORMATS[PurePosixPath(str(path)).suffix.lower()]


def _open(path: Input, mode: str = "rb") -> Any:
    """A local file or an fsspec URL, opened."""
    if isinstance(path, str) and "://" in path:
        import fsspec

        return fsspec.open(path, mode, encoding="utf-8" if "t" in mode else None).open()
    return open(path, mode, encoding="utf-8" if "t" in mode else None)


def resolve_inputs(pattern: str, root: Path, option: str = "--current") -> list[Input]:
    """The files a path or glob (relative to `root`), or an s3:// URL, folder or glob, names, sorted; each
    must be CSV, Parquet or JSONL."""
    if "://" in pattern:
        from mlgate.datasets.sources import url_files

        found = url_files(pattern, option, tuple(FORMATS))
        if not found:
            raise DataValidationError(f"{option} {pattern}: no file matches")
        return list(found)
    if not glob.has_magic(pattern) and (root / pattern).is_dir():  # a folder: every batch file in it
        pattern = (Path(pattern) / "**" / "*").as_posix()
        found = [n for n in glob.glob(pattern, root_dir=root, recursive=True) if (root / n).is_file()]
        names = sorted(n for n in found if PurePosixPath(n).suffix.lower() in FORMATS)
    else:
        names = sorted(glob.glob(pattern, root_dir=root)) if glob.has_magic(pattern) else [pattern]
    if not names:
        raise DataValidationError(f"{option} {pattern}: no file matches")
    for name in names:
        if not (root / name).exists():
            raise DataValidationError(
                f"{shown(root / name)}: no such file or folder (if it is DVC-tracked, run `dvc pull`)"
            )
        if Path(name).suffix.lower() not in FORMATS:
            raise DataValidationError(f"{name}: expected a .csv, .parquet or .jsonl file, or a folder")
        if not (root / name).is_file():
            raise DataValidationError(
                f"{shown(root / name)}: file not found (if it is DVC-tracked, run `dvc pull`)"
            )
    return [root / name for name in names]


@dataclass(frozen=True)
class ColumnTypes:
    """Types to read CSV columns as, so a type guessed from the first block cannot break a later one."""

    numeric: tuple[str, ...] = ()
    text: tuple[str, ...] = ()

    def csv_types(self, as_text: bool) -> dict[str, pa.DataType]:
        numeric_type = pa.string() if as_text else pa.float64()
        return {**{c: numeric_type for c in self.numeric}, **{c: pa.string() for c in self.text}}


def column_names(path: Input) -> list[str]:
    """The columns of one input file (for JSONL: of its first record, nested mappings flattened)."""
    kind = _kind(path)
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            with _open(path) as handle:
                return list(pq.ParquetFile(handle).schema_arrow.names)
        if kind == "csv":
            import pyarrow.csv as pcsv

            with _open(path) as handle:
                reader = pcsv.open_csv(handle, read_options=pcsv.ReadOptions(block_size=SAMPLE_BYTES))
                return list(reader.schema.names)
        with _open(path, "rt") as handle:
            first = next((line for line in handle if line.strip()), "{}")
        return list(flatten_record(json.loads(first)))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataValidationError(f"{path}: cannot read: {exc}") from None


def iter_chunks(path: Input, columns: list[str], chunk_rows: int, types: ColumnTypes) -> Iterator[pa.Table]:
    """Yield the named columns of a file in tables of at most `chunk_rows` rows."""
    kind = _kind(path)
    try:
        if kind == "parquet":
            yield from _parquet_chunks(path, columns, chunk_rows)
        elif kind == "csv":
            yield from _csv_chunks(path, columns, chunk_rows, types)
        else:
            yield from _jsonl_chunks(path, columns, chunk_rows)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataValidationError(f"{path}: cannot read: {exc}") from None


def _parquet_chunks(path: Input, columns: list[str], chunk_rows: int) -> Iterator[pa.Table]:
    import pyarrow.parquet as pq

    # pre_buffer off: buffering would hold a whole row group (often the whole file) in memory
    with _open(path) as handle:
        parquet = pq.ParquetFile(handle, pre_buffer=False, buffer_size=1 << 20)
        for batch in parquet.iter_batches(batch_size=chunk_rows, columns=columns, use_threads=True):
            yield pa.Table.from_batches([batch])


def _csv_block_size(path: Input, chunk_rows: int) -> int:
    """Bytes per CSV block that hold about `chunk_rows` rows, estimated from the file's start."""
    with _open(path) as handle:
        sample = handle.read(SAMPLE_BYTES)
    row_bytes = len(sample) / max(sample.count(b"\n"), 1)
    return max(SAMPLE_BYTES, int(row_bytes * chunk_rows))


def _csv_chunks(path: Input, columns: list[str], chunk_rows: int, types: ColumnTypes) -> Iterator[pa.Table]:
    import pyarrow.csv as pcsv

    block = _csv_block_size(path, chunk_rows)
    try:  # fast path: numeric features parsed as numbers; a stray text value makes pyarrow refuse the file
        yield from _csv_reader_chunks(pcsv, path, columns, block, types.csv_types(as_text=False))
        return
    except pa.ArrowInvalid:
        pass
    yield from _csv_reader_chunks(pcsv, path, columns, block, types.csv_types(as_text=True))


def _csv_reader_chunks(
    pcsv: Any, path: Input, columns: list[str], block: int, types: dict[str, Any]
) -> Iterator[pa.Table]:
    convert = pcsv.ConvertOptions(
        column_types=types, include_columns=columns, null_values=list(NA_TOKENS), strings_can_be_null=True
    )
    with _open(path) as handle:
        reader = pcsv.open_csv(
            handle, read_options=pcsv.ReadOptions(block_size=block), convert_options=convert
        )
        for batch in reader:
            yield pa.Table.from_batches([batch])


def flatten_record(record: Any) -> dict[str, Any]:
    """One log record as flat columns: nested mappings (the request's `input`, the `output`) are lifted up.

    The service logs class probabilities as `probabilities: {label: p}`; they become `proba_<label>`,
    the column names of the evaluate stage's predictions.
    """
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object per line, got {type(record).__name__}")
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key == "probabilities" and isinstance(value, dict):
            flat.update({f"proba_{label}": p for label, p in value.items()})
        elif isinstance(value, dict):
            flat.update({k: v for k, v in flatten_record(value).items() if k not in record})
        else:
            flat[key] = value
    return flat


def _jsonl_chunks(path: Input, columns: list[str], chunk_rows: int) -> Iterator[pa.Table]:
    rows: list[dict[str, Any]] = []
    with _open(path, "rt") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append(flatten_record(json.loads(line)))
            except ValueError as exc:
                raise DataValidationError(f"{path}:{number}: not a JSON record: {exc}") from None
            if len(rows) >= chunk_rows:
                yield _rows_table(rows, columns)
                rows = []
    if rows:
        yield _rows_table(rows, columns)


def _rows_table(rows: list[dict[str, Any]], columns: list[str]) -> pa.Table:
    """A table of records; values of mixed types in one column are kept as text."""
    arrays = {}
    for name in columns:
        values = [None if is_missing(row.get(name)) else row.get(name) for row in rows]
        try:
            arrays[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays[name] = pa.array([None if v is None else str(v) for v in values], pa.string())
    return pa.table(arrays)


def read_frame(pattern: str, root: Path, option: str, chunk_rows: int = 65_536) -> Any:
    """Every row of the files `pattern` names, read as the monitor reads them, as one pandas DataFrame
    (the columns of the first file; the retraining batch, which is labelled data of modest size)."""
    import pandas as pd

    paths = resolve_inputs(pattern, root, option)
    columns = column_names(paths[0])
    frames = [
        chunk.to_pandas() for path in paths for chunk in iter_chunks(path, columns, chunk_rows, ColumnTypes())
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
