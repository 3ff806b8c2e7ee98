"""The library API: what the CLI, the workflows and other programs call."""

from __future__ import annotations

from pathlib import Path

from mlgate.stages import run_stage
from mlgate.validate import validate_project


def validate(params_path: str | Path = "params.yaml", dvc_path: str | Path = "dvc.yaml") -> list[str]:
    """Validate params.yaml and dvc.yaml; return notes for the user."""
    return validate_project(params_path, dvc_path)


__all__ = ["run_stage", "validate"]
