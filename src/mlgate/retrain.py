"""`mlgate retrain`: fold a labelled batch into the DVC-tracked data, reproduce, and commit on a new branch.

The result is an ordinary branch, so retraining goes through the same pull-request report, gate and
deploy as any other change. `materialise_data` turns a bundled or `python:` source into the tracked
CSV that retraining needs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mlgate.datasets.sources import load_source, load_table
from mlgate.errors import ConfigError, DataValidationError, GitError
from mlgate.fsio import atomic_write
from mlgate.layout import LAYOUT
from mlgate.monitor.inputs import read_frame
from mlgate.project import Project
from mlgate.validate import validate_project
from mlgate.vcs import dvc, git, git_or_none


@dataclass(frozen=True)
class RetrainResult:
    """What a retrain did: the branch and commit it made, and the rows before and after."""

    branch: str
    commit: str
    source: str
    rows_before: int
    rows_after: int
    pushed: bool


def tracked_csv(project: Project, params: dict[str, Any]) -> Path:
    """The CSV file params.yaml names as its data source; retraining needs data that lives in a file."""
    source = params["data"]["source"]
    if source.startswith(("sklearn:", "python:")) or Path(source).suffix.lower() != ".csv":
        raise ConfigError(
            f"params.yaml: data.source: {source!r}: retraining needs a CSV file under {LAYOUT.raw}/; "
            f"run `mlgate materialise-data` once to write one from it"
        )
    path = project.resolve(source)
    if not path.is_file() and path.with_name(path.name + ".dvc").is_file():
        dvc(project.root, "pull", "-q", source, what="fetch the tracked data")
    if not path.is_file():
        raise ConfigError(
            f"params.yaml: data.source: {source}: file not found (if it is DVC-tracked, run `dvc pull`)"
        )
    return path


def merged_rows(existing: pd.DataFrame, batch: pd.DataFrame, replace: bool) -> pd.DataFrame:
    """The new content of the data file: the batch appended (or alone), in the file's column order."""
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


def _require_clean_tree(project: Project) -> None:
    status = git(project.root, "status", "--porcelain", "--untracked-files=no", what="check git")
    changed = [line for line in status.splitlines() if line]
    if changed:
        raise GitError(
            "the working tree has uncommitted changes; commit or stash them before `mlgate retrain`:\n"
            + "\n".join(changed[:10])
        )


def _track(project: Project, path: Path) -> list[str]:
    """Record the new data: `dvc add` for a DVC-tracked file; a file kept in git is simply staged."""
    relative = path.relative_to(project.root).as_posix()
    if git_or_none(project.root, "ls-files", "--error-unmatch", relative) is not None:
        return [relative]
    dvc(project.root, "add", relative, what="track the new data")
    return [f"{relative}.dvc", Path(relative).with_name(".gitignore").as_posix()]


def _reproduce(project: Project) -> bool:
    """Validate, `dvc repro`, and `dvc push` when a remote is configured; return whether it pushed."""
    validate_project(project)
    dvc(project.root, "repro", what="retrain the model")
    pushed = bool(dvc(project.root, "remote", "list", what="list DVC remotes").strip())
    if pushed:
        dvc(project.root, "push", what="upload data and model to the DVC remote")
    return pushed


def _commit(project: Project, files: list[str], message: str) -> str:
    """Commit tracked changes plus the named files; return the commit."""
    root, what = project.root, "commit the retraining"
    git(root, "add", "-u", what=what)
    present = [name for name in [*files, LAYOUT.dvc_lock.as_posix()] if project.resolve(name).exists()]
    git(root, "add", "--", *present, what=what)
    git(root, "commit", "-q", "-m", message, what=what)
    return git(root, "rev-parse", "HEAD", what=what).strip()


def read_batch(project: Project, data: str) -> pd.DataFrame:
    """A labelled batch: what `mlgate monitor --current` takes (a CSV, Parquet or JSONL file, or a glob of
    them, relative to the root, read by the monitor's reader), or `python:<module>:<function>`."""
    if data.startswith("python:"):
        return load_source(data, project.root)
    return read_frame(data, project.root, "--data")


def retrain(project: Project, data: str, replace: bool = False, branch: str | None = None) -> RetrainResult:
    """Add (or swap in) a labelled batch, `dvc add`, validate, `dvc repro`, push, commit on a new branch."""
    params = project.params
    path = tracked_csv(project, params)
    batch = read_batch(project, data)
    if params["data"]["target"] not in batch.columns:
        raise DataValidationError(
            f"--data {data}: no target column {params['data']['target']!r}; retraining needs labels"
        )
    _require_clean_tree(project)
    existing = load_table(path, "params.yaml: data.source")
    rows = merged_rows(existing, batch, replace)
    branch = branch or time.strftime("mlgate/retrain-%Y%m%d-%H%M%S", time.gmtime())
    git(project.root, "switch", "-c", branch, what="create the retraining branch")
    atomic_write(path, lambda temp: rows.to_csv(temp, index=False))
    files = _track(project, path)
    pushed = _reproduce(project)
    verb = "replace" if replace else "append"
    message = f"Retrain: {verb} {len(batch)} labelled rows from {Path(data).name} ({len(rows)} rows now)"
    commit = _commit(project, files, message)
    return RetrainResult(branch, commit, project.shown(path), len(existing), len(rows), pushed)


def materialise_data(project: Project, to: Path | None = None, dvc_track: bool = True) -> Path:
    """Write the configured source (bundled or `python:`) once to a CSV under data/raw/; `dvc add` it.

    With `dvc_track=False` the CSV is left for git to track, for repositories without a DVC remote,
    whose pull requests must find the data in the checkout.
    """
    source = project.params["data"]["source"]
    if not source.startswith(("sklearn:", "python:")):
        raise ConfigError(f"params.yaml: data.source is already a file ({source}); nothing to materialise")
    target = to or project.files.raw / f"{source.rsplit(':', 1)[-1]}.csv"
    if target.suffix.lower() != ".csv":
        raise ConfigError(f"--to {project.shown(target)}: expected a .csv path")
    if not target.resolve().is_relative_to(project.root):
        raise ConfigError(f"--to {project.shown(target)}: the data file must lie inside the project folder")
    frame = load_source(source, project.root)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, lambda temp: frame.to_csv(temp, index=False))
    if dvc_track:
        dvc(
            project.root,
            "add",
            target.relative_to(project.root).as_posix(),
            what="track the materialised data",
        )
    return target
