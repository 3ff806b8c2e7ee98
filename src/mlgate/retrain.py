"""`mlgate retrain`: fold a labelled batch into the DVC-tracked data, reproduce, and commit on a new branch.

The result is an ordinary branch, so retraining goes through the same pull-request report, gate and
deploy as any other change. `materialise_data` turns a bundled or `python:` source into the tracked
CSV that retraining needs.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.errors import ConfigError, DataValidationError, GitError, MissingDependencyError

RAW_DIR = Path("data/raw")


@dataclass(frozen=True)
class RetrainResult:
    """What a retrain did: the branch and commit it made, and the rows before and after."""

    branch: str
    commit: str
    source: str
    rows_before: int
    rows_after: int
    pushed: bool


def _run(*args: str, what: str) -> str:
    """Run git or DVC; a failure becomes an error carrying the tool's own message."""
    try:
        result = subprocess.run(list(args), capture_output=True, text=True)
    except FileNotFoundError:
        raise MissingDependencyError(f"{args[0]} is not installed; it is needed to {what}") from None
    if result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-20:]
        raise GitError(f"{' '.join(args)} failed ({what}):\n" + "\n".join(detail))
    return result.stdout


def _dvc(*args: str, what: str) -> str:
    dvc = Path(sys.executable).with_name("dvc")
    return _run(str(dvc) if dvc.exists() else "dvc", *args, what=what)


def tracked_csv(params: dict[str, Any]) -> Path:
    """The CSV file params.yaml names as its data source; retraining needs data that lives in a file."""
    source = params["data"]["source"]
    if source.startswith(("sklearn:", "python:")) or Path(source).suffix.lower() != ".csv":
        raise ConfigError(
            f"params.yaml: data.source: {source!r}: retraining needs a CSV file under {RAW_DIR}/; "
            f"run `mlgate materialise-data` once to write one from it"
        )
    path = Path(source)
    if not path.is_file() and path.with_name(path.name + ".dvc").is_file():
        _dvc("pull", "-q", str(path), what="fetch the tracked data")
    if not path.is_file():
        raise ConfigError(
            f"params.yaml: data.source: {source}: file not found (if it is DVC-tracked, run `dvc pull`)"
        )
    return path


def merged_rows(existing: Any, batch: Any, replace: bool) -> Any:
    """The new content of the data file: the batch appended (or alone), in the file's column order."""
    import pandas as pd

    missing = [c for c in existing.columns if c not in batch.columns]
    extra = [c for c in batch.columns if c not in existing.columns]
    if missing or extra:
        parts = [
            f"missing {', '.join(missing)}" if missing else "",
            f"unexpected {', '.join(extra)}" if extra else "",
        ]
        raise DataValidationError(
            f"--data: columns differ from the tracked file: {'; '.join(p for p in parts if p)}"
        )
    batch = batch[list(existing.columns)]
    return batch if replace else pd.concat([existing, batch], ignore_index=True)


def _require_clean_tree() -> None:
    changed = [
        line
        for line in _run(
            "git", "status", "--porcelain", "--untracked-files=no", what="check git"
        ).splitlines()
        if line
    ]
    if changed:
        raise GitError(
            "the working tree has uncommitted changes; commit or stash them before `mlgate retrain`:\n"
            + "\n".join(changed[:10])
        )


def _has_remote() -> bool:
    return bool(_dvc("remote", "list", what="list DVC remotes").strip())


def _in_git(path: Path) -> bool:
    return (
        subprocess.run(["git", "ls-files", "--error-unmatch", str(path)], capture_output=True).returncode == 0
    )


def _track(path: Path) -> list[str]:
    """Record the new data: `dvc add` for a DVC-tracked file; a file kept in git is simply staged."""
    if _in_git(path):
        return [str(path)]
    _dvc("add", str(path), what="track the new data")
    return [str(path.with_name(path.name + ".dvc")), str(path.with_name(".gitignore"))]


def _reproduce(params_path: str | Path) -> bool:
    """Validate, `dvc repro`, and `dvc push` when a remote is configured; return whether it pushed."""
    from mlgate.validate import validate_project

    validate_project(params_path)
    _dvc("repro", what="retrain the model")
    pushed = _has_remote()
    if pushed:
        _dvc("push", what="upload data and model to the DVC remote")
    return pushed


def _commit(files: list[str], message: str) -> str:
    """Commit tracked changes plus the named files; return the commit."""
    _run("git", "add", "-u", what="stage the retraining")
    present = [name for name in [*files, "dvc.lock"] if Path(name).exists()]
    _run("git", "add", "--", *present, what="stage the retraining")
    _run("git", "commit", "-q", "-m", message, what="commit the retraining")
    return _run("git", "rev-parse", "HEAD", what="read the commit").strip()


def retrain(
    data: str | Path,
    replace: bool = False,
    params_path: str | Path = "params.yaml",
    branch: str | None = None,
) -> RetrainResult:
    """Add (or swap in) a labelled batch, `dvc add`, validate, `dvc repro`, push, commit on a new branch."""
    from mlgate.config import load_params
    from mlgate.datasets.sources import load_table
    from mlgate.fsio import atomic_write

    params = load_params(params_path)
    path = tracked_csv(params)
    batch = load_table(Path(data), "--data")
    if params["data"]["target"] not in batch.columns:
        raise DataValidationError(
            f"--data {data}: no target column {params['data']['target']!r}; retraining needs labels"
        )
    _require_clean_tree()
    existing = load_table(path, "params.yaml: data.source")
    rows = merged_rows(existing, batch, replace)
    branch = branch or time.strftime("mlgate/retrain-%Y%m%d-%H%M%S", time.gmtime())
    _run("git", "switch", "-c", branch, what="create the retraining branch")
    atomic_write(path, lambda temp: rows.to_csv(temp, index=False))
    files = _track(path)
    pushed = _reproduce(params_path)
    verb = "replace" if replace else "append"
    message = f"Retrain: {verb} {len(batch)} labelled rows from {Path(data).name} ({len(rows)} rows now)"
    commit = _commit(files, message)
    return RetrainResult(branch, commit, str(path), len(existing), len(rows), pushed)


def materialise_data(
    to: str | Path | None = None, params_path: str | Path = "params.yaml", dvc: bool = True
) -> Path:
    """Write the configured source (bundled or `python:`) once to a CSV under data/raw/; `dvc add` it.

    With `dvc=False` the CSV is left for git to track, for repositories without a DVC remote, whose
    pull requests must find the data in the checkout.
    """
    from mlgate.config import load_params
    from mlgate.datasets.sources import load_source
    from mlgate.fsio import atomic_write

    source = load_params(params_path)["data"]["source"]
    if not source.startswith(("sklearn:", "python:")):
        raise ConfigError(f"params.yaml: data.source is already a file ({source}); nothing to materialise")
    target = Path(to) if to else RAW_DIR / f"{source.rsplit(':', 1)[-1]}.csv"
    if target.suffix.lower() != ".csv":
        raise ConfigError(f"--to {target}: expected a .csv path")
    frame = load_source(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, lambda temp: frame.to_csv(temp, index=False))
    if dvc:
        _dvc("add", str(target), what="track the materialised data")
    return target
