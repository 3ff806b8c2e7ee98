"""The library API: what the CLI, the workflows and other programs call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlgate.stages import run_stage
from mlgate.validate import validate_project


def validate(params_path: str | Path = "params.yaml", dvc_path: str | Path = "dvc.yaml") -> list[str]:
    """Validate params.yaml and dvc.yaml; return notes for the user."""
    return validate_project(params_path, dvc_path)


def _registry_settings(params_path: str | Path, registry_path: str | Path | None) -> Any:
    from mlgate.registry import settings

    return settings(params_path, registry_path)


def registry_load(params_path: str | Path = "params.yaml", registry_path: str | Path | None = None) -> Any:
    """Load the model registry named in params.yaml (or at `registry_path`)."""
    from mlgate.registry import load

    return load(_registry_settings(params_path, registry_path).path)


def registry_next_version(params_path: str | Path = "params.yaml",
                          registry_path: str | Path | None = None) -> int:
    """The version the next `registry_record` will get."""
    from mlgate.registry import next_version

    return next_version(_registry_settings(params_path, registry_path))


def registry_record(params_path: str | Path = "params.yaml", registry_path: str | Path | None = None,
                    **request: Any) -> dict[str, Any]:
    """Register the workspace's model; `request` holds RecordRequest fields (version, pr, image, ...)."""
    from mlgate.registry import RecordRequest, record

    return record(_registry_settings(params_path, registry_path), params_path, RecordRequest(**request))


def registry_promote(version: int, alias: str, reason: str | None = None,
                     params_path: str | Path = "params.yaml",
                     registry_path: str | Path | None = None) -> dict[str, Any]:
    """Point an alias at a version; return the event."""
    from mlgate.registry import promote

    return promote(_registry_settings(params_path, registry_path), version, alias, reason)


def registry_rollback(alias: str, reason: str | None = None, params_path: str | Path = "params.yaml",
                      registry_path: str | Path | None = None) -> dict[str, Any]:
    """Move an alias back to its previous version; return the event."""
    from mlgate.registry import rollback

    return rollback(_registry_settings(params_path, registry_path), alias, reason)


def registry_deprecate(version: int, reason: str | None = None, params_path: str | Path = "params.yaml",
                       registry_path: str | Path | None = None) -> dict[str, Any]:
    """Retire a version; return the event."""
    from mlgate.registry import deprecate

    return deprecate(_registry_settings(params_path, registry_path), version, reason)


def registry_verify(params_path: str | Path = "params.yaml",
                    registry_path: str | Path | None = None) -> list[str]:
    """Every problem with the registry; empty when it is sound."""
    from mlgate.registry import verify

    return verify(_registry_settings(params_path, registry_path).path)


__all__ = [
    "registry_deprecate",
    "registry_load",
    "registry_next_version",
    "registry_promote",
    "registry_record",
    "registry_rollback",
    "registry_verify",
    "run_stage",
    "validate",
]
