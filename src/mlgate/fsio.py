"""Atomic file output, hashing and stable JSON: every file mlgate writes goes through here."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

CHUNK = 1 << 20


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()  # what open() would give; mkstemp alone gives 0600


def shown(path: Path) -> str:
    """A path as messages show it: relative to the working directory when it lies below it."""
    here = Path.cwd()
    absolute = path if path.is_absolute() else here / path
    if here == Path(here.anchor) or not absolute.is_relative_to(here):
        return absolute.as_posix()
    return absolute.relative_to(here).as_posix()


def sha256_file(path: str | Path) -> str:
    """Return the hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _finite(value: Any) -> Any:
    """Replace NaN and infinities, which JSON cannot hold, with None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def dumps_json(data: Any) -> str:
    """Serialise to indented, key-stable JSON with a trailing newline."""
    return json.dumps(_finite(data), indent=2, ensure_ascii=False, default=_json_default) + "\n"


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return _finite(value.item())
    if hasattr(value, "tolist"):
        return _finite(value.tolist())
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


@contextlib.contextmanager
def _temp_beside(path: Path) -> Iterator[Path]:
    """Yield a temp path in the target's folder; the caller renames it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
    finally:
        temp.unlink(missing_ok=True)


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> None:
    """Write a file through `write(temp_path)`, then rename it over `path` in one step."""
    target = Path(path)
    with _temp_beside(target) as temp:
        write(temp)
        os.replace(temp, target)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write text atomically."""
    atomic_write(path, lambda temp: temp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically."""
    atomic_write_text(path, dumps_json(data))


class OutputSet:
    """Stage outputs written to temp files and renamed into place together on commit.

    Nothing replaces a previous output until every output of the stage has been written,
    so a failing stage leaves the previous outputs intact.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []

    def add(self, path: str | Path, write: Callable[[Path], object]) -> None:
        """Write one output to a temp file beside its target."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.fchmod(fd, FILE_MODE)
        os.close(fd)
        self._pending.append((Path(name), target))
        write(Path(name))

    def pending_path(self, path: str | Path) -> Path:
        """The temp file holding an output that is not committed yet."""
        for temp, target in self._pending:
            if target == Path(path):
                return temp
        raise KeyError(path)

    def text(self, path: str | Path, text: str) -> None:
        self.add(path, lambda temp: temp.write_text(text, encoding="utf-8"))

    def json(self, path: str | Path, data: Any) -> None:
        self.text(path, dumps_json(data))

    def parquet(self, path: str | Path, frame: Any) -> None:
        self.add(path, lambda temp: frame.to_parquet(temp, index=False))

    def folder(self, path: str | Path, write: Callable[[Path], object]) -> None:
        """Write one output that is a folder (a partitioned Parquet dataset) to a temp folder beside it."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        self._pending.append((temp, target))
        write(temp)

    def commit(self) -> None:
        for temp, target in self._pending:
            _replace(temp, target)
        self._pending.clear()

    def discard(self) -> None:
        for temp, _ in self._pending:
            if temp.is_dir():
                shutil.rmtree(temp, ignore_errors=True)
            else:
                temp.unlink(missing_ok=True)
        self._pending.clear()


def _replace(temp: Path, target: Path) -> None:
    """Rename `temp` over `target`; a folder on either side is first moved aside, then removed."""
    if not (temp.is_dir() or target.is_dir()):
        os.replace(temp, target)
        return
    aside = target.with_name(f".{target.name}.old")
    shutil.rmtree(aside, ignore_errors=True)
    if target.exists():
        os.replace(target, aside)
    os.replace(temp, target)
    if aside.is_dir():
        shutil.rmtree(aside, ignore_errors=True)
    else:
        aside.unlink(missing_ok=True)


@contextlib.contextmanager
def output_set() -> Iterator[OutputSet]:
    """Collect outputs; rename them all into place only if the block succeeds."""
    outputs = OutputSet()
    try:
        yield outputs
    except BaseException:
        outputs.discard()
        raise
    outputs.commit()
