"""Pipeline outputs of the two sides of a report: the workspace (PR head) and the base revision.

The base is read at its revision through DVC (cache, else remote). When its outputs are in neither, or its
dvc.lock is stale, the base is reproduced in a temporary git worktree that shares the main checkout's DVC
cache, so the run-cache makes it cheap.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate import __version__
from mlgate.layout import LAYOUT
from mlgate.project import Project
from mlgate.report.parts import PredictionParts
from mlgate.vcs import (
    DvcLock,
    Reader,
    cache_object,
    checkout_cached,
    dvc,
    dvc_folder,
    dvc_reader,
    read_at,
    resolve_rev,
    run,
    tool,
    worktree,
)
from mlgate.yamldoc import YamlDocument, parse_yaml

Folder = Callable[[str], PredictionParts | None]  # a tracked Parquet folder, read where it lies or copied
PLOTS = ("roc", "precision_recall", "roc_by_class", "precision_recall_by_class", "importance")


@dataclass
class Outputs:
    """One side's pipeline outputs, as the report reads them; None where a file is absent."""

    source: str  # workspace | dvc-cache | dvc-remote | worktree | none
    params_document: YamlDocument | None = None  # params.yaml as written, with each value's source text
    metrics: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    card: dict[str, Any] | None = None
    predictions: Any = None  # a DataFrame, or PredictionParts for the dask engine's partitioned folder
    plots: dict[str, Any] = field(default_factory=dict)
    mlgate_version: str | None = None
    stale_reason: str | None = None
    revision: str | None = None
    profile: dict[str, Any] | None = None  # the reference profile of the train split
    train: Path | None = None  # the workspace's train split (the PR side only)
    sweep: dict[str, Any] | None = None  # the train stage's reports/sweep.json

    @property
    def has_metrics(self) -> bool:
        return bool(self.metrics)

    @property
    def params(self) -> dict[str, Any]:
        data = self.params_document.data if self.params_document is not None else None
        return data if isinstance(data, dict) else {}


def load_outputs(reader: Reader, outputs: Outputs, folder: Folder) -> Outputs:
    """Fill `outputs` from readers of root-relative paths: files, and the predictions when a folder."""
    import pandas as pd

    def parsed(path: Path) -> Any:
        raw = reader(path.as_posix())
        return None if raw is None else json.loads(raw)

    outputs.metrics, outputs.data = parsed(LAYOUT.metrics), parsed(LAYOUT.data_report)
    outputs.card, outputs.profile = parsed(LAYOUT.card), parsed(LAYOUT.profile)
    outputs.sweep = parsed(LAYOUT.sweep)
    raw = reader(LAYOUT.predictions.as_posix())
    predictions = LAYOUT.predictions.as_posix()
    outputs.predictions = folder(predictions) if raw is None else pd.read_parquet(io.BytesIO(raw))
    outputs.plots = {
        name: value for name in PLOTS if (value := parsed(LAYOUT.plot(f"{name}.json"))) is not None
    }
    return outputs


def _file_reader(folder: Path) -> Reader:
    def read(path: str) -> bytes | None:
        target = folder / path
        return target.read_bytes() if target.is_file() else None

    return read


def _in_place(root: Path) -> Folder:
    """The workspace's folders, read where they lie."""
    return lambda path: PredictionParts.of(root / path) if (root / path).is_dir() else None


def _copied(copy: Callable[[str, Path], bool]) -> Folder:
    """Folders copied into a temporary directory that lives as long as the parts read from it."""

    def read(path: str) -> PredictionParts | None:
        scratch = tempfile.TemporaryDirectory(prefix="mlgate-report-")
        if not copy(path, Path(scratch.name) / "parts"):
            scratch.cleanup()
            return None
        return PredictionParts.of(Path(scratch.name), scratch)

    return read


def _copy_tree(root: Path) -> Callable[[str, Path], bool]:
    def copy(path: str, target: Path) -> bool:
        if not (root / path).is_dir():
            return False
        shutil.copytree(root / path, target)
        return True

    return copy


def _params_of(text: bytes | None, source: str) -> YamlDocument | None:
    return parse_yaml(text, source) if text else None


def workspace_outputs(project: Project) -> Outputs:
    """The PR head: outputs as `dvc repro` left them in the checkout."""
    text = project.params_file.read_bytes() if project.has_params else None
    document = _params_of(text, project.shown(project.params_file))
    train = project.files.train if project.files.train.is_file() else None
    outputs = Outputs("workspace", document, mlgate_version=__version__, train=train)
    return load_outputs(_file_reader(project.root), outputs, _in_place(project.root))


def base_outputs(project: Project, rev: str, reproduce: bool = True) -> Outputs:
    """The base revision's outputs: from DVC cache or remote, else reproduced in a worktree."""
    root = project.root
    sha = resolve_rev(root, rev)
    params_file = project.relative(project.params_file)  # the same file the workspace side reads
    document = _params_of(read_at(root, sha, params_file), f"{rev}:{params_file}")
    params = document.data if document is not None and isinstance(document.data, dict) else {}
    version = (read_at(root, sha, LAYOUT.version.as_posix()) or b"").decode().strip() or None
    if not params or read_at(root, sha, LAYOUT.dvc_yaml.as_posix()) is None:
        return Outputs("none", document, revision=sha)
    lock_text = read_at(root, sha, LAYOUT.dvc_lock.as_posix())
    lock = DvcLock.parse(lock_text, f"{rev}:{LAYOUT.dvc_lock}") if lock_text else DvcLock({})
    outs = lock.outs()
    metrics = LAYOUT.metrics.as_posix()
    reason = (
        f"its dvc.lock records no {metrics}"
        if metrics not in outs
        else lock.staleness(params, params_file, lambda path: read_at(root, sha, path))
    )
    if reason is None:
        cache = project.cache_dir()
        cached = all(cache_object(cache, md5) for md5 in outs.values() if md5 and not md5.endswith(".dir"))
        source = "dvc-cache" if cached else "dvc-remote"
        found = _try_dvc(project, sha, Outputs(source, document, mlgate_version=version), outs)
        if found is not None:
            found.revision = sha
            return found
        reason = "its outputs are in neither the DVC cache nor a remote"
    if not reproduce:
        return Outputs("none", document, stale_reason=reason, revision=sha)
    outputs = reproduce_in_worktree(project, sha)
    outputs.params_document, outputs.stale_reason, outputs.revision = document, reason, sha
    return outputs


def _try_dvc(project: Project, sha: str, outputs: Outputs, outs: dict[str, str]) -> Outputs | None:
    """Read through DVC; None when a locked output is in neither the cache nor a remote."""
    folder = _copied(lambda path, target: dvc_folder(project.root, sha, path, target))
    loaded = load_outputs(dvc_reader(project.root, sha), outputs, folder)
    fields = {
        LAYOUT.metrics: loaded.metrics,
        LAYOUT.data_report: loaded.data,
        LAYOUT.predictions: loaded.predictions,
        LAYOUT.card: loaded.card,
        LAYOUT.sweep: loaded.sweep,
    }
    missing = [path for path, value in fields.items() if path.as_posix() in outs and value is None]
    return None if missing else loaded


def reproduce_in_worktree(project: Project, sha: str) -> Outputs:
    """Check the base out in a temporary worktree sharing the DVC cache, run the pipeline, read it."""
    what = "reproducing the base in a temporary worktree"
    with worktree(project.root, sha) as tree:
        checkout_cached(tree)
        run([tool("mlgate"), "validate"], tree, what)
        dvc(tree, "repro", what=what)  # not --quiet, which hides DVC's own error too
        outputs = Outputs("worktree", mlgate_version=__version__)
        return load_outputs(_file_reader(tree), outputs, _copied(_copy_tree(tree)))


def lock_drift(project: Project) -> list[str]:
    """Stages whose reproduced dvc.lock entry differs from the one committed at HEAD."""
    current = project.files.dvc_lock
    if not current.is_file():
        return []
    committed_text = read_at(project.root, "HEAD", LAYOUT.dvc_lock.as_posix())
    committed = DvcLock.parse(committed_text, f"HEAD:{LAYOUT.dvc_lock}").stages if committed_text else {}
    reproduced = DvcLock.parse(current.read_bytes(), project.shown(current)).stages
    return sorted(
        name for name in set(committed) | set(reproduced) if committed.get(name) != reproduced.get(name)
    )
