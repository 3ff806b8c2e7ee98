"""The reference a batch is compared with: the profile, metrics and test predictions of one model version.

With `--alias`, the version is the one holding that alias in the registry, and its files are read at
the commit it was built from (through `dvc.api`, so monitoring needs no raw training data). Without a
registry file the workspace's own pipeline outputs are the reference.
"""

from __future__ import annotations

import io
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.errors import GitError, MlgateError, RegistryError

PROFILE = "reports/reference_profile.json"
METRICS = "reports/metrics.json"
PREDICTIONS = "reports/predictions.parquet"
CARD = "models/model.json"


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
    predictions: Any = None  # pandas DataFrame of the test set's predictions, when found
    card: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.origin == "registry":
            return f"version {self.version} ({self.alias}, commit {str(self.commit)[:12]})"
        return f"workspace {PROFILE}"


def load_reference(alias: str | None, registry_path: str | Path, root: Path = Path(".")) -> Reference:
    """The reference of the version holding `alias`; the workspace's when there is no registry file."""
    registry_file = root / registry_path
    if alias is None or not registry_file.is_file():
        reference = _workspace_reference(root)
        if alias is not None:
            reference.notes.append(
                f"no registry file {registry_path}; compared with the workspace's {PROFILE}"
            )
        return reference
    return _registry_reference(alias, registry_file, root)


def _workspace_reference(root: Path) -> Reference:
    profile_path = root / PROFILE
    if not profile_path.is_file():
        raise MlgateError(f"{PROFILE}: reference profile not found; run `dvc repro` (or `dvc pull`) first")
    reference = Reference(profile=_json(profile_path.read_bytes(), PROFILE), origin="workspace")
    reference.metrics = _optional_json(root / METRICS)
    reference.card = _optional_json(root / CARD)
    if (root / PREDICTIONS).is_file():
        import pandas as pd

        reference.predictions = pd.read_parquet(root / PREDICTIONS)
    return reference


def _registry_reference(alias: str, registry_file: Path, root: Path) -> Reference:
    from mlgate.registry.document import load

    registry = load(registry_file)
    if alias not in registry.aliases:
        held = ", ".join(sorted(registry.aliases)) or "none"
        raise RegistryError(f"{registry_file}: no version holds the alias {alias!r} (aliases: {held})")
    entry = registry.entry(registry.aliases[alias])
    commit = entry["source"]["commit"]
    if not commit:
        raise RegistryError(
            f"{registry_file}: version {entry['version']} records no commit; cannot find its profile"
        )
    profile = _read_at(root, PROFILE, commit)
    if profile is None:
        raise MlgateError(
            f"{PROFILE} of version {entry['version']} (commit {commit[:12]}) is in neither the DVC cache "
            "nor the "
            "remote; run `dvc pull` or `dvc fetch` for that commit"
        )
    reference = Reference(
        profile=_json(profile, PROFILE),
        origin="registry",
        alias=alias,
        version=entry["version"],
        commit=commit,
        metrics=entry.get("metrics"),
        model_sha256=entry["model"]["sha256"],
    )
    card = _read_at(root, CARD, commit)
    reference.card = _json(card, CARD) if card else None
    predictions = _read_at(root, PREDICTIONS, commit)
    if predictions is not None:
        import pandas as pd

        reference.predictions = pd.read_parquet(io.BytesIO(predictions))
    return reference


def _read_at(root: Path, path: str, commit: str) -> bytes | None:
    """A pipeline output's bytes at a commit: from git, else DVC's cache or remote; None when absent."""
    shown = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=root, capture_output=True)
    if shown.returncode == 0:
        return shown.stdout
    try:
        import dvc.api  # lazy: DVC is heavy and only needed for older versions
    except ImportError:
        raise GitError(f"reading {path} at {commit[:12]} needs DVC: pip install 'mlgate[pipeline]'") from None
    try:
        data: bytes = dvc.api.read(path, repo=str(root), rev=commit, mode="rb")
    except Exception:  # DVC raises many types for a path absent from cache and remote
        return None
    return data


def _json(data: bytes, name: str) -> dict[str, Any]:
    try:
        parsed: dict[str, Any] = json.loads(data)
    except ValueError as exc:
        raise MlgateError(f"{name}: not valid JSON: {exc}") from None
    return parsed


def _optional_json(path: Path) -> dict[str, Any] | None:
    return _json(path.read_bytes(), str(path)) if path.is_file() else None
