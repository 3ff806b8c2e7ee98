"""The pipeline stages that dvc.yaml calls: `mlgate stage data|train|evaluate`, one module each."""

from __future__ import annotations

from mlgate.compute import Engine, open_engine
from mlgate.datasets.schema import prepared_columns
from mlgate.project import Project


def run_stage(project: Project, name: str, engine: Engine | None = None) -> None:
    """Validate config first (against the prepared data's columns after the data stage), then run a stage."""
    if name == "data":
        from mlgate.stages import data as module

        params = project.params_against_source(expectations=False)  # the stage checks those on the data
    else:
        if name == "train":
            from mlgate.stages import train as module  # type: ignore[no-redef]
        else:
            from mlgate.stages import evaluate as module  # type: ignore[no-redef]
        params = project.checked_params(prepared_columns(project.files.test))
        if name == "train":
            from mlgate.stages.train import estimator_problems

            project.document().raise_problems(estimator_problems(params["model"]))
    project.check_version()
    if engine is not None:
        module.run(project, params, engine)
        return
    with open_engine(params["compute"]) as opened:
        module.run(project, params, opened)
