"""The pipeline stages that dvc.yaml calls: `mlgate stage data|train|evaluate`."""

from __future__ import annotations

from pathlib import Path

from mlgate.config import load_params
from mlgate.project import check_version_file

STAGES = ("data", "train", "evaluate")


def run_stage(name: str, params_path: str | Path = "params.yaml") -> None:
    """Validate config first, then run one stage."""
    params = load_params(params_path)
    check_version_file()
    if name == "data":
        from mlgate.stages import data as module
    elif name == "train":
        from mlgate.stages import train as module  # type: ignore[no-redef]
    else:
        from mlgate.stages import evaluate as module  # type: ignore[no-redef]
    module.run(params)
