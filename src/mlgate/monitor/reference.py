"""The reference a batch is compared with: the profile, metrics and test predictions of one model version.

With `--alias`, the version is the one holding that alias in the registry, and its files are read at
the commit it was built from (through `dvc.api`, so monitoring needs no raw training data). Without a
registry file the workspace's own pipeline outputs are the reference.
"""

from __future__ import annotations

import io
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.errors import MlgateError, RegistryError
from mlgate.layout import LAYOUT
from mlgate.monitor.performance import PREDICTION
from mlgate.project import Project
from mlgate.registry.operations import load_registry, settings
from mlgate.vcs import dvc_folder, dvc_reader, read_at


@dataclass
class Reference:
    """What the monitor compares with, and where it came from."""

    profile: dict[str, Any]
    origin: str  # "registry" or "workspace"
    alias: str | None = None
    version: int | None = None
    commit: str | None = None
    metrics: dict[str, Any] | None = None
    model_sha256: str | None = None
    predictions: Any = None  # the test set's predicted values (a DataFrame of one column), when found
    card: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.origin == "registry":
            return f"version {self.version} ({self.alias}, commit {str(self.commit)[:12]})"
        return f"workspace {LAYOUT.profile}"


def load_reference(project: Project, alias: str | None) -> Reference:
    """The reference of the version holding `alias`; the workspace's when the registry has no version yet
    (no registry file, or the empty one `mlgate init` writes)."""
    registry = settings(project)
    empty = registry.path.is_file() and not load_registry(project).versions
    if alias is None or not registry.path.is_file() or empty:
        reference = _workspace_reference(project)
        if alias is not None:
            why = (
                f"the registry {registry.shown} has no version yet"
                if empty
                else f"no registry file {registry.shown}"
            )
            reference.notes.append(f"{why}; compared with the workspace's {LAYOUT.profile}")
        return reference
    return _registry_reference(project, alias)


def _workspace_reference(project: Project) -> Reference:
    files = project.files
    if not files.profile.is_file():
        raise MlgateError(
            f"{LAYOUT.profile}: reference profile not found; run `dvc repro` (or `dvc pull`) first"
        )
    reference = Reference(profile=_json(files.profile.read_bytes(), str(LAYOUT.profile)), origin="workspace")
    reference.metrics = _optional_json(files.metrics, str(LAYOUT.metrics))
    reference.card = _optional_json(files.card, str(LAYOUT.card))
    if files.predictions.exists():  # a file, or the dask engine's folder
        import pandas as pd

        reference.predictions = pd.read_parquet(files.predictions, columns=[PREDICTION])
    return reference


def _registry_reference(project: Project, alias: str) -> Reference:
    registry, shown = load_registry(project), settings(project).shown
    if alias not in registry.aliases:
        held = ", ".join(sorted(registry.aliases)) or "none"
        latest = registry.versions[-1]["version"]
        raise RegistryError(
            f"{shown}: no version holds the alias {alias!r} (aliases: {held}); point it at a version with "
            f"`mlgate registry promote {latest} --to {alias}`, or compare with another alias: "
            "`mlgate monitor --alias <alias>` (or monitor.alias in params.yaml)"
        )
    entry = registry.entry(registry.aliases[alias])
    commit = entry["source"]["commit"]
    if not commit:
        raise RegistryError(f"{shown}: version {entry['version']} records no commit; cannot find its profile")
    profile = _read_at(project, LAYOUT.profile.as_posix(), commit)
    if profile is None:
        raise MlgateError(
            f"{LAYOUT.profile} of version {entry['version']} (commit {commit[:12]}) is in neither the DVC "
            "cache nor the remote; run `dvc pull` or `dvc fetch` for that commit"
        )
    reference = Reference(
        profile=_json(profile, str(LAYOUT.profile)),
        origin="registry",
        alias=alias,
        version=entry["version"],
        commit=commit,
        metrics=entry.get("metrics"),
        model_sha256=entry["model"]["sha256"],
    )
    card = _read_at(project, LAYOUT.card.as_posix(), commit)
    reference.card = _json(card, str(LAYOUT.card)) if card else None
    reference.predictions = _predictions_at(project, commit)
    return reference


def _predictions_at(project: Project, commit: str) -> Any:
    """The test set's predictions at a commit, a file or the dask engine's folder; None when absent."""
    import pandas as pd

    path = LAYOUT.predictions.as_posix()
    data = _read_at(project, path, commit)
    if data is not None:
        return pd.read_parquet(io.BytesIO(data), columns=[PREDICTION])
    with tempfile.TemporaryDirectory(prefix="mlgate-monitor-") as temp:
        if not dvc_folder(project.root, commit, path, Path(temp) / "parts"):
            return None
        import pyarrow.dataset as ds

        files = sorted(str(file) for file in Path(temp).rglob("*.parquet"))
        return ds.dataset(files, format="parquet").to_table(columns=[PREDICTION]).to_pandas()


def _read_at(project: Project, path: str, commit: str) -> bytes | None:
    """A pipeline output's bytes at a commit: from git, else DVC's cache or remote; None when absent."""
    return read_at(project.root, commit, path) or dvc_reader(project.root, commit)(path)


def _json(data: bytes, name: str) -> dict[str, Any]:
    try:
        parsed: dict[str, Any] = json.loads(data)
    except ValueError as exc:
        raise MlgateError(f"{name}: not valid JSON: {exc}") from None
    return parsed


def _optional_json(path: Any, name: str) -> dict[str, Any] | None:
    return _json(path.read_bytes(), name) if path.is_file() else None
