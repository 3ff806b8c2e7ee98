"""Pipeline outputs of the two sides of a report: the workspace (PR head) and the base revision.

The base is read at its revision through `dvc.api` (DVC cache, else remote). When its outputs are in
neither, or its dvc.lock is stale, the base is reproduced in a temporary git worktree that shares the
main checkout's DVC cache, so the run-cache makes it cheap.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlgate import __version__
from mlgate.errors import GitError, MissingDependencyError

METRICS = "reports/metrics.json"
DATA = "reports/data.json"
PREDICTIONS = "reports/predictions.parquet"
CARD = "models/model.json"
PLOTS = ("reports/plots/roc.json", "reports/plots/precision_recall.json", "reports/plots/importance.json")
LOCK = "dvc.lock"
PARAMS = "params.yaml"
VERSION = ".mlgate/version"
Reader = Callable[[str], bytes | None]


@dataclass
class Outputs:
    """One side's pipeline outputs, as the report reads them; None where a file is absent."""

    source: str  # workspace | dvc-cache | dvc-remote | worktree | none
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    card: dict[str, Any] | None = None
    predictions: Any = None  # pandas DataFrame
    plots: dict[str, Any] = field(default_factory=dict)
    mlgate_version: str | None = None
    stale_reason: str | None = None
    revision: str | None = None

    @property
    def has_metrics(self) -> bool:
        return bool(self.metrics)


def git(root: Path, *args: str, check: bool = True) -> str:
    """Run git in `root`; return stdout, or raise GitError with git's message."""
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {result.stderr.strip() or 'failed'}")
    return result.stdout


def repo_root(path: str | Path = ".") -> Path:
    """The top folder of the git checkout holding `path`."""
    return Path(git(Path(path), "rev-parse", "--show-toplevel").strip())


def resolve_rev(root: Path, rev: str) -> str:
    """The commit sha a revision names; GitError when it names none."""
    sha = git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False).strip()
    if not sha:
        raise GitError(
            f"--base {rev!r} is not a revision of this repository "
            f"(fetch it first, e.g. `git fetch origin {rev}`)"
        )
    return sha


def git_file(root: Path, sha: str, path: str) -> bytes | None:
    """A git-tracked file's bytes at a commit, or None when it is not there."""
    result = subprocess.run(["git", "show", f"{sha}:{path}"], cwd=root, capture_output=True)
    return result.stdout if result.returncode == 0 else None


def load_outputs(reader: Reader, outputs: Outputs) -> Outputs:
    """Fill `outputs` from a reader of repository-relative paths."""
    import pandas as pd

    def parsed(path: str) -> Any:
        raw = reader(path)
        return None if raw is None else json.loads(raw)

    outputs.metrics, outputs.data, outputs.card = parsed(METRICS), parsed(DATA), parsed(CARD)
    raw = reader(PREDICTIONS)
    outputs.predictions = None if raw is None else pd.read_parquet(io.BytesIO(raw))
    outputs.plots = {Path(p).stem: value for p in PLOTS if (value := parsed(p)) is not None}
    return outputs


def _file_reader(folder: Path) -> Reader:
    def read(path: str) -> bytes | None:
        target = folder / path
        return target.read_bytes() if target.is_file() else None

    return read


def workspace_outputs(root: Path) -> Outputs:
    """The PR head: outputs as `dvc repro` left them in the checkout."""
    params_file = root / PARAMS
    params = yaml.safe_load(params_file.read_text(encoding="utf-8")) if params_file.is_file() else {}
    outputs = Outputs("workspace", params=params or {}, mlgate_version=__version__)
    return load_outputs(_file_reader(root), outputs)


def _locked_outs(lock: dict[str, Any]) -> dict[str, str]:
    """Every output path in a dvc.lock with its md5."""
    return {
        out["path"]: out.get("md5", "")
        for stage in (lock.get("stages") or {}).values()
        for out in stage.get("outs") or []
    }


def lock_staleness(root: Path, sha: str, lock: dict[str, Any], params: dict[str, Any]) -> str | None:
    """Why a revision's dvc.lock does not match its params and git-tracked deps; None when it does."""
    tracked = set(git(root, "ls-tree", "-r", "--name-only", sha).splitlines())
    for name, stage in (lock.get("stages") or {}).items():
        for key, value in (stage.get("params") or {}).get(PARAMS, {}).items():
            if _dotted_get(params, key) != value:
                return f"stage {name}: param {key} changed since dvc.lock was written"
        for dep in stage.get("deps") or []:
            if dep["path"] in tracked and "md5" in dep:
                content = git_file(root, sha, dep["path"]) or b""
                if hashlib.md5(content).hexdigest() != dep["md5"]:
                    return f"stage {name}: {dep['path']} changed since dvc.lock was written"
    return None


def _dotted_get(data: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _dvc_reader(root: Path, sha: str) -> Reader:
    """Read a DVC output at a revision; None when it cannot be read."""
    try:
        import dvc.api
    except ImportError:
        raise MissingDependencyError(
            "reading the base revision needs DVC: pip install 'mlgate[pipeline]'"
        ) from None

    def read(path: str) -> bytes | None:
        # DVC signals a missing object in many ways (PathMissingError, DataIndexDirError, OSError)
        try:
            data: bytes = dvc.api.read(path, repo=str(root), rev=sha, mode="rb")
        except Exception:
            return None
        return data

    return read


def _in_local_cache(root: Path, md5s: list[str]) -> bool:
    """Whether every object is in the checkout's DVC cache (wherever `cache.dir` puts it)."""
    cache = Path(_cache_dir(root)) / "files" / "md5"
    return all((cache / md5[:2] / md5[2:]).exists() for md5 in md5s if md5)


def base_outputs(root: Path, rev: str, reproduce: bool = True) -> Outputs:
    """The base revision's outputs: from DVC cache or remote, else reproduced in a worktree."""
    sha = resolve_rev(root, rev)
    params_raw, lock_raw = git_file(root, sha, PARAMS), git_file(root, sha, LOCK)
    params = (yaml.safe_load(params_raw) or {}) if params_raw else {}
    version = (git_file(root, sha, VERSION) or b"").decode().strip() or None
    if not params or git_file(root, sha, "dvc.yaml") is None:
        return Outputs("none", params=params, revision=sha)
    lock = (yaml.safe_load(lock_raw) or {}) if lock_raw else {}
    outs = _locked_outs(lock)
    reason = (
        f"its dvc.lock records no {METRICS}"
        if METRICS not in outs
        else lock_staleness(root, sha, lock, params)
    )
    if reason is None:
        source = "dvc-cache" if _in_local_cache(root, list(outs.values())) else "dvc-remote"
        found = _try_dvc(
            root, sha, Outputs(source, params=params, mlgate_version=version, revision=sha), outs
        )
        if found is not None:
            return found
        reason = "its outputs are in neither the DVC cache nor a remote"
    if not reproduce:
        return Outputs("none", params=params, stale_reason=reason, revision=sha)
    outputs = reproduce_in_worktree(root, sha)
    outputs.params, outputs.stale_reason, outputs.revision = params, reason, sha
    return outputs


def _try_dvc(root: Path, sha: str, outputs: Outputs, outs: dict[str, str]) -> Outputs | None:
    """Read through dvc.api; None when a locked output is in neither the cache nor a remote."""
    loaded = load_outputs(_dvc_reader(root, sha), outputs)
    fields = {METRICS: loaded.metrics, DATA: loaded.data, PREDICTIONS: loaded.predictions, CARD: loaded.card}
    missing = [path for path, value in fields.items() if path in outs and value is None]
    return None if missing else loaded


def _cache_dir(root: Path) -> str:
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return str(repo.cache.local_cache_dir)


def reproduce_in_worktree(root: Path, sha: str) -> Outputs:
    """Check the base out in a temporary worktree sharing the DVC cache, run the pipeline, read it."""
    cache = _cache_dir(root)
    with tempfile.TemporaryDirectory(prefix="mlgate-base-") as temp:
        tree = Path(temp) / "base"
        git(root, "worktree", "add", "--detach", "--quiet", str(tree), sha)
        try:
            (tree / ".dvc" / "config.local").write_text(f"[cache]\n    dir = {cache}\n", encoding="utf-8")
            for command in ([_tool("mlgate"), "validate"], [_tool("dvc"), "repro", "--quiet"]):
                _run_in(tree, command)
            return load_outputs(_file_reader(tree), Outputs("worktree", mlgate_version=__version__))
        finally:
            git(root, "worktree", "remove", "--force", str(tree), check=False)
            git(root, "worktree", "prune", check=False)


def _tool(name: str) -> str:
    """A console script beside the running Python (the same install), else the one on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def _run_in(tree: Path, command: list[str]) -> None:
    result = subprocess.run(command, cwd=tree, capture_output=True, text=True)
    if result.returncode != 0:
        shown = " ".join([Path(command[0]).name, *command[1:]])
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise GitError(f"reproducing the base in a worktree failed at `{shown}`:\n{tail}")


def lock_drift(root: Path) -> list[str]:
    """Stages whose reproduced dvc.lock entry differs from the one committed at HEAD."""
    committed_raw, current = git_file(root, "HEAD", LOCK), root / LOCK
    if not current.is_file():
        return []
    committed = (yaml.safe_load(committed_raw) or {}).get("stages", {}) if committed_raw else {}
    reproduced = (yaml.safe_load(current.read_text(encoding="utf-8")) or {}).get("stages", {})
    return sorted(
        name for name in set(committed) | set(reproduced) if committed.get(name) != reproduced.get(name)
    )
